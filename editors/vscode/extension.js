// KlingScript for VS Code: highlighting and snippets are declared in
// package.json; this file starts the language server (`klingc lsp`).
"use strict";

const vscode = require("vscode");

let client = null;

async function activate(context) {
  const config = vscode.workspace.getConfiguration("klingscript");
  if (!config.get("server.enabled", true)) {
    return;
  }
  let lc;
  try {
    lc = require("vscode-languageclient/node");
  } catch (err) {
    vscode.window.showWarningMessage(
      "KlingScript: highlighting only. Run `npm install` in the extension folder to enable " +
        "the language server (diagnostics, completion, rename)."
    );
    return;
  }
  const command = config.get("server.command", "klingc");
  const args = config.get("server.args", ["lsp"]);
  // The server speaks LSP on stdin/stdout.
  const serverOptions = { run: { command, args }, debug: { command, args } };
  const clientOptions = {
    documentSelector: [
      { scheme: "file", language: "klingscript" },
      { scheme: "untitled", language: "klingscript" },
    ],
    synchronize: {
      fileEvents: vscode.workspace.createFileSystemWatcher("**/*.kls"),
    },
  };
  client = new lc.LanguageClient("klingscript", "KlingScript", serverOptions, clientOptions);
  try {
    await client.start();
  } catch (err) {
    vscode.window.showErrorMessage(
      `KlingScript: could not start \`${command} ${args.join(" ")}\` (${err && err.message}). ` +
        "Set klingscript.server.command to the klingc of your environment."
    );
  }
}

function deactivate() {
  return client ? client.stop() : undefined;
}

module.exports = { activate, deactivate };
