#!/usr/bin/env node
/**
 * Unit-level runs of function nodes from a flow file, with node-red-node-test-helper and the real
 * function node of the installed Node-RED. Used by tests/nodered/test_functions.py.
 *
 * stdin (JSON):  {"flow": "<flow file>", "nodes": ["<id>", …], "env": {…},
 *                 "steps": [{"to": "<id>", "msg": {…}, "pause_ms": 0}, …]}
 * stdout (JSON): {"outputs": [{"step": i, "node": "<id>", "output": n, "msg": {…}}, …],
 *                 "log": [{"level": "error"|"warn"|"info", "node": "<id>", "msg": "…"}, …]}
 *
 * The picked nodes keep their wires among themselves; every output also goes to a helper node that
 * records what arrives. A step ends when every message it caused has been handled: the runtime's
 * hooks count messages sent (onSend) against messages done (onComplete), so nothing is timed.
 * "pause_ms" sleeps before a step (for code that compares Date.now() with an earlier message).
 */
"use strict";

const fs = require("fs");
const helper = require("node-red-node-test-helper");
const functionNode = require("@node-red/nodes/core/function/10-function.js");
const { hooks } = require("@node-red/util");

helper.init(require.resolve("node-red"));

/** Messages in flight: +1 for each one sent (or injected), -1 when its node calls done(). */
const inFlight = {
    count: 0,
    waiters: [],
    add(n) {
        this.count += n;
        if (this.count === 0) this.waiters.splice(0).forEach((resolve) => resolve());
    },
    idle() {
        return this.count === 0 ? Promise.resolve() : new Promise((resolve) => this.waiters.push(resolve));
    },
};

function buildFlow(all, ids) {
    const tab = all.find((n) => n.type === "tab");
    const flow = [{ id: tab.id, type: "tab", label: tab.label }];
    for (const id of ids) {
        const node = JSON.parse(JSON.stringify(all.find((n) => n.id === id) || {}));
        if (!node.id) throw new Error(`no node ${id} in the flow file`);
        node.wires = (node.wires || []).map((targets, i) => [...targets.filter((t) => ids.includes(t)), `${id}#${i}`]);
        flow.push(node);
        node.wires.forEach((_, i) => flow.push({ id: `${id}#${i}`, type: "helper", z: tab.id }));
    }
    return flow;
}

async function main() {
    const spec = JSON.parse(fs.readFileSync(0, "utf8"));
    Object.assign(process.env, spec.env || {});
    const flow = buildFlow(JSON.parse(fs.readFileSync(spec.flow, "utf8")), spec.nodes);
    await new Promise((resolve) => helper.startServer(resolve));
    await helper.load(functionNode, flow);
    const outputs = [];
    let step = -1;
    for (const n of flow.filter((n) => n.type === "helper")) {
        const [source, output] = n.id.split("#");
        helper.getNode(n.id).on("input", (msg, send, done) => {
            delete msg._msgid;
            outputs.push({ step, node: source, output: Number(output), msg });
            done();
        });
    }
    hooks.add("onSend.unit", (events) => inFlight.add(events.length));
    hooks.add("onComplete.unit", () => inFlight.add(-1));
    for (const [i, s] of spec.steps.entries()) {
        if (s.pause_ms) await new Promise((resolve) => setTimeout(resolve, s.pause_ms));
        step = i;
        inFlight.add(1);
        helper.getNode(s.to).receive(s.msg);
        await inFlight.idle();
    }
    hooks.remove("*.unit");
    const log = helper.log().args
        .map(([event]) => event)
        .filter((e) => e && e.level <= 40 && e.id) // error (20), warn (30), info (40) of our nodes
        .map((e) => ({ level: { 20: "error", 30: "warn", 40: "info" }[e.level], node: e.id, msg: String(e.msg) }));
    await helper.unload();
    await new Promise((resolve) => helper.stopServer(resolve));
    process.stdout.write(JSON.stringify({ outputs, log }) + "\n");
}

main().catch((err) => {
    console.error(err && err.stack ? err.stack : String(err));
    process.exit(1);
});
