// Background helper of docker/n8n/docker-entrypoint.sh (Node 24 in the n8n 2.x image, no dependencies), idempotent.
//
// Once n8n's REST API answers:
//   1. creates the owner account from N8N_OWNER_EMAIL / N8N_OWNER_PASSWORD when the instance has none
//      (POST /rest/owner/setup only works before an owner exists);
//   2. logs in and publishes (activates) the workflows listed in MATHNOTES_ACTIVATE_FILE (written at the
//      first import), the way the editor's Publish button does in n8n 2.x: POST /rest/workflows/:id/activate
//      with the versionId read back from n8n (`n8n import:workflow` gives every import a new one; 2.x
//      ignores the 1.x PATCH {active: true}). Activated ids leave the file; the rest are retried at the
//      next start.
// Failures are logged ("n8n-setup: ..."), never fatal: n8n keeps running.
import { existsSync, readFileSync, unlinkSync, writeFileSync } from "node:fs";

const base = process.env.N8N_LOCAL_URL || `http://127.0.0.1:${process.env.N8N_PORT || 5678}`;
const email = process.env.N8N_OWNER_EMAIL;
const password = process.env.N8N_OWNER_PASSWORD;
const pendingFile = process.env.MATHNOTES_ACTIVATE_FILE || "";
const readyTimeoutMs = Number(process.env.MATHNOTES_SETUP_TIMEOUT_S || 300) * 1000;
const headers = { "content-type": "application/json", "browser-id": "mathnotes-setup" };

const log = (msg) => console.error(`n8n-setup: ${msg}`);
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// /healthz answers before the REST API is mounted: wait for the settings endpoint instead
async function waitReady() {
    const deadline = Date.now() + readyTimeoutMs;
    while (Date.now() < deadline) {
        try {
            const resp = await fetch(`${base}/rest/settings`);
            if (resp.ok && (resp.headers.get("content-type") || "").includes("json")) return true;
        } catch {
            // not listening yet
        }
        await sleep(1000);
    }
    return false;
}

async function call(method, path, body, extra = {}) {
    const resp = await fetch(`${base}${path}`, {
        method,
        headers: { ...headers, ...extra },
        body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await resp.text();
    let data = null;
    try {
        data = JSON.parse(text).data ?? null;
    } catch {
        // not JSON: keep the text for the log line
    }
    return { resp, data, text: text.slice(0, 200) };
}

async function setupOwner() {
    const { resp, text } = await call("POST", "/rest/owner/setup", {
        email,
        password,
        firstName: "Math Notes",
        lastName: "Owner",
    });
    if (resp.ok) log(`owner ${email} created`);
    else if (resp.status === 400 && /already/i.test(text)) log("owner exists");
    else log(`owner setup answered ${resp.status}: ${text}`);
}

async function login() {
    const { resp, text } = await call("POST", "/rest/login", { emailOrLdapLoginId: email, password });
    if (!resp.ok) throw new Error(`login as ${email} answered ${resp.status}: ${text}`);
    const cookie = (resp.headers.get("set-cookie") || "").split(";")[0];
    return { cookie };
}

function pendingIds() {
    if (!pendingFile || !existsSync(pendingFile)) return [];
    return readFileSync(pendingFile, "utf8").split("\n").map((line) => line.trim()).filter(Boolean);
}

async function activateOne(auth, id) {
    const current = await call("GET", `/rest/workflows/${id}`, undefined, auth);
    if (current.resp.status === 404) {
        log(`workflow ${id}: deleted since the import; skipped`);
        return true;
    }
    if (!current.resp.ok || !current.data) {
        log(`workflow ${id}: reading it answered ${current.resp.status}: ${current.text}`);
        return false;
    }
    const { name, versionId, active } = current.data;
    if (active) {
        log(`workflow ${id} (${name}): already active`);
        return true;
    }
    const saved = await call("POST", `/rest/workflows/${id}/activate`, { versionId }, auth);
    if (saved.resp.ok && saved.data && saved.data.active) {
        log(`workflow ${id} (${name}): activated`);
        return true;
    }
    log(`workflow ${id} (${name}): activation answered ${saved.resp.status}: ${saved.text}`);
    return false;
}

async function activate(auth) {
    const left = [];
    for (const id of pendingIds()) {
        if (!(await activateOne(auth, id))) left.push(id);
    }
    if (!pendingFile || !existsSync(pendingFile)) return;
    if (left.length) {
        writeFileSync(pendingFile, left.map((id) => `${id}\n`).join(""));
        log(`${left.length} workflow(s) left inactive; retried at the next start`);
    } else {
        unlinkSync(pendingFile);
    }
}

try {
    if (!(await waitReady())) throw new Error(`n8n's REST API did not answer within ${readyTimeoutMs / 1000} s`);
    await setupOwner();
    if (pendingIds().length) await activate(await login());
    log("done");
} catch (err) {
    log(String(err));
}
