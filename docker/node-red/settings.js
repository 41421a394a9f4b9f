/**
 * Node-RED settings for the Math Notes production stack (mounted read-only at /data/settings.js).
 *
 * - the editor and HTTP-in endpoints live under /nodered (nginx proxies /nodered/ unchanged);
 * - the editor needs a login: NODE_RED_ADMIN_USER / NODE_RED_ADMIN_PASSWORD from the environment
 *   (compared in constant time; no bcrypt hash to paste around);
 * - the flows' HTTP-in endpoints (/nodered/notes/upload, /nodered/notes/image: they spend the vision API
 *   key) need NODE_RED_HTTP_TOKEN, as "Authorization: Bearer <token>" or as the password of HTTP Basic
 *   auth (any user name: what a browser prompt or a phone shortcut sends); anything else gets a 401
 *   before the body is read;
 * - stored credentials are encrypted with NODE_RED_CREDENTIAL_SECRET;
 * - on the first start (no flows file in /data yet) the flows file is assembled from the repo's
 *   node-red-flows/ (NODE_RED_FLOWS_DIR, mounted read-only) by its own assemble.js, which also writes
 *   the MQTT login of the broker nodes as ${MQTT_USERNAME} / ${MQTT_PASSWORD} references: the password
 *   stays in the environment. Tabs listed in NODE_RED_DISABLED_TABS (ids, comma-separated) start
 *   disabled. Afterwards what is deployed from the editor is kept;
 * - nothing calls home and nothing installs from npm at run time (mainland-China deployments).
 */
"use strict";

const crypto = require("crypto");
const fs = require("fs");
const path = require("path");

const FLOWS_FILE = "flows.json";
const ADMIN_ROOT = process.env.NODE_RED_ADMIN_ROOT || "/nodered";

function seedFlows() {
    const source = process.env.NODE_RED_FLOWS_DIR;
    const target = path.join(__dirname, FLOWS_FILE);
    if (!source || fs.existsSync(target)) {
        return;
    }
    const assembler = path.join(source, "assemble.js");
    if (!fs.existsSync(assembler)) {
        console.warn(`[mathnotes] ${assembler} not found: no flows seeded`);
        return;
    }
    const result = require(assembler).assemble(source, __dirname, FLOWS_FILE, process.env);
    const disabled = (process.env.NODE_RED_DISABLED_TABS || "").split(",").map((s) => s.trim()).filter(Boolean);
    const nodes = JSON.parse(fs.readFileSync(target, "utf8"));
    const tabs = nodes.filter((n) => n.type === "tab" && disabled.includes(n.id));
    if (tabs.length) {
        tabs.forEach((tab) => (tab.disabled = true));
        fs.writeFileSync(target, JSON.stringify(nodes, null, 1));
    }
    const login = result.credentials ? `, MQTT login from MQTT_USERNAME / MQTT_PASSWORD` : "";
    const off = tabs.length ? `, disabled: ${tabs.map((t) => t.label || t.id).join(", ")}` : "";
    console.log(`[mathnotes] seeded ${FLOWS_FILE} with ${result.nodes} nodes from ${source}${login}${off}`);
}

function digest(value) {
    return crypto.createHash("sha256").update(String(value)).digest();
}

function sameSecret(given, expected) {
    return crypto.timingSafeEqual(digest(given), digest(expected));
}

// The token an HTTP-in request presents: a bearer token, or the password of Basic auth.
function presentedToken(req) {
    const header = String(req.headers.authorization || "");
    const space = header.indexOf(" ");
    const scheme = header.slice(0, space).toLowerCase();
    const value = header.slice(space + 1).trim();
    if (space > 0 && scheme === "bearer") {
        return value;
    }
    if (space > 0 && scheme === "basic") {
        const decoded = Buffer.from(value, "base64").toString("utf8");
        return decoded.slice(decoded.indexOf(":") + 1);
    }
    return "";
}

const adminUser = process.env.NODE_RED_ADMIN_USER || "admin";
const adminPassword = process.env.NODE_RED_ADMIN_PASSWORD || "";
if (!adminPassword) {
    throw new Error("NODE_RED_ADMIN_PASSWORD is not set: the editor must not run without a login");
}
const httpToken = process.env.NODE_RED_HTTP_TOKEN || "";
if (!httpToken) {
    throw new Error("NODE_RED_HTTP_TOKEN is not set: the flows' HTTP endpoints would be open to anyone");
}
if (!process.env.NODE_RED_CREDENTIAL_SECRET) {
    throw new Error("NODE_RED_CREDENTIAL_SECRET is not set: stored credentials would not be encrypted");
}

seedFlows();

module.exports = {
    uiPort: Number(process.env.PORT || 1880),
    flowFile: FLOWS_FILE,
    flowFilePretty: true,
    credentialSecret: process.env.NODE_RED_CREDENTIAL_SECRET,

    httpAdminRoot: ADMIN_ROOT,
    httpNodeRoot: ADMIN_ROOT,

    // runs before the HTTP-in nodes' body parsers: an unauthenticated upload is never read
    httpNodeMiddleware(req, res, next) {
        if (sameSecret(presentedToken(req), httpToken)) {
            next();
            return;
        }
        res.set("WWW-Authenticate", 'Basic realm="Math Notes Node-RED", charset="UTF-8"');
        res.status(401).json({
            error: {
                code: "unauthorized",
                message: "send NODE_RED_HTTP_TOKEN as 'Authorization: Bearer <token>' or as the Basic auth password",
            },
        });
    },

    adminAuth: {
        type: "credentials",
        sessionExpiryTime: 86400,
        users(username) {
            return Promise.resolve(username === adminUser ? { username: adminUser, permissions: "*" } : null);
        },
        authenticate(username, password) {
            const ok = sameSecret(username, adminUser) && sameSecret(password, adminPassword);
            return Promise.resolve(ok ? { username: adminUser, permissions: "*" } : null);
        },
    },

    diagnostics: { enabled: false, ui: false },
    runtimeState: { enabled: false, ui: false },
    telemetry: { enabled: false },
    externalModules: {
        autoInstall: false,
        palette: { allowInstall: false, allowUpload: false },
        modules: { allowInstall: false },
    },
    functionExternalModules: false,
    exportGlobalContextKeys: false,

    editorTheme: {
        projects: { enabled: false },
        tours: false,
        palette: { catalogues: [] },
    },

    logging: {
        console: { level: process.env.NODE_RED_LOG_LEVEL || "info", metrics: false, audit: false },
    },
};
