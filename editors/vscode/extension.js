// The specc extension: starts `specc lsp` (setting `specc.command`) for .mf files and lets
// vscode-languageclient speak LSP with it over stdio. Syntax colouring needs no server.
"use strict";

const vscode = require("vscode");
const { LanguageClient } = require("vscode-languageclient/node");

let client;

function activate(context) {
  const [command, ...args] = vscode.workspace.getConfiguration("specc").get("command", ["specc", "lsp"]);
  const server = { command, args };
  client = new LanguageClient(
    "specc",
    "specc language server",
    { run: server, debug: server },
    { documentSelector: [{ scheme: "file", language: "specc" }] }
  );
  context.subscriptions.push(client);
  return client.start();
}

function deactivate() {
  return client ? client.stop() : undefined;
}

module.exports = { activate, deactivate };
