// The whole client: start `pcc lsp` (the command is the setting pcdsl.server.command) for
// .pc files. Highlighting needs none of this; it comes from package.json alone.
"use strict";

const vscode = require("vscode");

let client;

function activate(context) {
  const settings = vscode.workspace.getConfiguration("pcdsl");
  if (!settings.get("server.enabled", true)) {
    return;
  }
  let languageclient;
  try {
    languageclient = require("vscode-languageclient/node");
  } catch (error) {
    vscode.window.showWarningMessage(
      "pcdsl: run `npm install` in the extension's folder to enable the language server.");
    return;
  }
  const [command, ...args] = settings.get("server.command", ["pcc", "lsp"]);
  const server = { command, args, transport: languageclient.TransportKind.stdio };
  client = new languageclient.LanguageClient(
    "pcdsl", "pcdsl", { run: server, debug: server },
    { documentSelector: [{ scheme: "file", language: "pc" }, { scheme: "untitled", language: "pc" }] });
  context.subscriptions.push(client);
  client.start();
}

function deactivate() {
  return client ? client.stop() : undefined;
}

module.exports = { activate, deactivate };
