// First-start helper of docker/n8n/docker-entrypoint.sh (Node 24 in the n8n 2.x image, no dependencies).
//
//   node prepare-import.mjs <workflows-dir> <staging-dir>
//
// Writes what the entry point then hands to n8n's own import commands:
//   <staging-dir>/credentials.json  the four credentials our workflows name, filled from the environment
//                                   (`n8n import:credentials` encrypts plain `data` with N8N_ENCRYPTION_KEY);
//                                   "Math Notes webhook key" is the header our webhooks require
//                                   (Authorization: Bearer MATHNOTES_WEBHOOK_TOKEN): without that token
//                                   nothing is written and the import fails, so no webhook is ever open;
//                                   "InfluxDB read token" is the digest's Authorization: Token MATHNOTES_INFLUX_TOKEN;
//   <staging-dir>/workflows/*.json   our workflows, inactive (n8n links their credentials by name on import),
//                                   with their Config nodes' settings filled from MATHNOTES_* (CONFIG below):
//                                   the workflows never read $env, which n8n 2.x blocks by default
//                                   (N8N_BLOCK_ENV_ACCESS_IN_NODE); a setting left unset keeps the file's default;
//   <staging-dir>/activate           their ids, one per line, for setup-owner.mjs to activate once n8n runs.
// Nothing secret is printed; the staging folder is private (mode 700) and removed by the entry point.
import { chmodSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";

const env = process.env;
const webhookToken = env.MATHNOTES_WEBHOOK_TOKEN || "";

// Fixed ids: a second import (after a wiped marker) updates the same credentials instead of adding copies.
const CREDENTIALS = [
    {
        id: "mnCredMathNotes1",
        name: "Math Notes API",
        type: "mathNotesApi",
        data: { baseUrl: env.MATHNOTES_API_URL || "http://vision:3001", apiKey: env.MATHNOTES_API_KEY || "" },
    },
    {
        id: "mnCredChatModel1",
        name: "Chat model (OpenAI-compatible)",
        type: "openAiApi",
        data: {
            apiKey: env.MATHNOTES_CHAT_API_KEY || "",
            url: env.MATHNOTES_CHAT_BASE_URL || "https://dashscope.aliyuncs.com/compatible-mode/v1",
        },
    },
    {
        id: "mnCredWebhookKey",
        name: "Math Notes webhook key",
        type: "httpHeaderAuth",
        data: { name: "Authorization", value: `Bearer ${webhookToken}` },
    },
    {
        id: "mnCredInfluxRead",
        name: "InfluxDB read token",
        type: "httpHeaderAuth",
        // InfluxDB 2.x/3.x: the read-only token; an InfluxDB 1.x without auth ignores the header
        data: { name: "Authorization", value: `Token ${env.MATHNOTES_INFLUX_TOKEN || ""}` },
    },
];

// The workflows' Config nodes (n8n "Edit Fields" nodes named Config): assignment -> environment variable
const CONFIG = {
    chatModel: "MATHNOTES_CHAT_MODEL",
    notifyUrl: "MATHNOTES_NOTIFY_URL",
    influxUrl: "MATHNOTES_INFLUX_URL",
    influxDb: "MATHNOTES_INFLUX_DB",
    deviceTag: "MATHNOTES_DEVICE_TAG",
};

// fillConfig(workflow): the Config node's settings from the environment (a literal string, never an expression)
function fillConfig(workflow) {
    for (const node of workflow.nodes || []) {
        if (node.name !== "Config" || node.type !== "n8n-nodes-base.set") continue;
        for (const assignment of node.parameters?.assignments?.assignments || []) {
            const value = CONFIG[assignment.name] ? env[CONFIG[assignment.name]] : "";
            if (!value) continue;
            // a leading "=" would make n8n evaluate the value as an expression: write it as a string literal
            assignment.value = value.startsWith("=") ? `={{ ${JSON.stringify(value)} }}` : value;
        }
    }
}

function main([source, staging]) {
    if (!source || !staging) {
        console.error("usage: node prepare-import.mjs <workflows-dir> <staging-dir>");
        process.exit(2);
    }
    if (!webhookToken) {
        console.error("MATHNOTES_WEBHOOK_TOKEN is not set: the webhooks would answer anyone; nothing imported");
        process.exit(2);
    }
    mkdirSync(join(staging, "workflows"), { recursive: true, mode: 0o700 });
    chmodSync(staging, 0o700);
    writeFileSync(join(staging, "credentials.json"), JSON.stringify(CREDENTIALS), { mode: 0o600 });
    const ids = [];
    for (const name of readdirSync(source).filter((n) => n.endsWith(".json")).sort()) {
        const workflow = JSON.parse(readFileSync(join(source, name), "utf8"));
        if (!workflow.id || !workflow.versionId) {
            throw new Error(`${name}: an imported workflow needs "id" and "versionId"`);
        }
        // n8n refuses to import a workflow marked active; setup-owner.mjs activates it over the REST API
        workflow.active = false;
        fillConfig(workflow);
        writeFileSync(join(staging, "workflows", name), JSON.stringify(workflow));
        ids.push(String(workflow.id));
    }
    writeFileSync(join(staging, "activate"), ids.map((id) => `${id}\n`).join(""));
    console.log(`${ids.length} workflow(s), ${CREDENTIALS.length} credential(s)`);
}

main(process.argv.slice(2));
