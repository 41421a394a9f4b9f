#!/usr/bin/env node
/**
 * Combine the flow files of this folder into one Node-RED flows file (what `./stack up` and the
 * production settings.js load), and, when the broker needs a login, a credentials file that holds
 * only environment references.
 *
 *   node assemble.js <flows-dir> <user-dir> [flows-file-name]
 *   require("./assemble.js").assemble(flowsDir, userDir, flowsFileName)
 *
 * - every *.json in <flows-dir> (each an array of nodes, as Node-RED exports them) is appended in name
 *   order; duplicate node ids stop it with an error naming them;
 * - when MQTT_USERNAME is set, <user-dir>/flows_<name>_cred.json maps every mqtt-broker node to
 *   {"user": "${MQTT_USERNAME}", "password": "${MQTT_PASSWORD}"}: Node-RED substitutes the environment
 *   when it starts the node, so no secret is ever written to disk or committed. Without MQTT_USERNAME
 *   no credentials file is written (an anonymous broker).
 */
"use strict";

const fs = require("fs");
const path = require("path");

function readFlows(flowsDir) {
    const nodes = [];
    const seen = new Map();
    for (const name of fs.readdirSync(flowsDir).filter((n) => n.endsWith(".json")).sort()) {
        const data = JSON.parse(fs.readFileSync(path.join(flowsDir, name), "utf8"));
        const list = Array.isArray(data) ? data : data.flows || [];
        for (const node of list) {
            if (seen.has(node.id)) {
                throw new Error(`node id ${node.id} is in both ${seen.get(node.id)} and ${name}`);
            }
            seen.set(node.id, name);
            nodes.push(node);
        }
    }
    return nodes;
}

function credentialsFor(nodes, env) {
    if (!env.MQTT_USERNAME) {
        return null;
    }
    const creds = {};
    for (const node of nodes.filter((n) => n.type === "mqtt-broker")) {
        creds[node.id] = { user: "${MQTT_USERNAME}", password: "${MQTT_PASSWORD}" };
    }
    return creds;
}

function assemble(flowsDir, userDir, flowsFile = "flows.json", env = process.env) {
    const nodes = readFlows(flowsDir);
    fs.mkdirSync(userDir, { recursive: true });
    fs.writeFileSync(path.join(userDir, flowsFile), JSON.stringify(nodes, null, 1));
    const credFile = path.join(userDir, flowsFile.replace(/\.json$/, "") + "_cred.json");
    const creds = credentialsFor(nodes, env);
    if (creds) {
        fs.writeFileSync(credFile, JSON.stringify(creds, null, 1));
    } else if (fs.existsSync(credFile)) {
        fs.unlinkSync(credFile);
    }
    return { nodes: nodes.length, credentials: Boolean(creds) };
}

module.exports = { assemble, readFlows, credentialsFor };

if (require.main === module) {
    const [flowsDir, userDir, flowsFile] = process.argv.slice(2);
    if (!flowsDir || !userDir) {
        console.error("usage: node assemble.js <flows-dir> <user-dir> [flows-file-name]");
        process.exit(2);
    }
    const result = assemble(flowsDir, userDir, flowsFile || "flows.json");
    console.log(`assembled ${result.nodes} nodes into ${path.join(userDir, flowsFile || "flows.json")}` +
        (result.credentials ? " (MQTT login from MQTT_USERNAME / MQTT_PASSWORD)" : ""));
}
