// Berth's built-in extension. Today it names the workspace in the status bar (several IDE
// windows look alike); it is also where Berth's in-IDE features live as they arrive. What it
// does goes to its "Berth" output channel (and so to code-server's logs).
"use strict";
const vscode = require("vscode");

function activate(context) {
  const log = vscode.window.createOutputChannel("Berth", { log: true });
  context.subscriptions.push(log);
  const name = process.env.BERTH_WORKSPACE;
  if (!name) {
    log.warn("not in a Berth workspace (BERTH_WORKSPACE is not set)");
    return;
  }
  const item = vscode.window.createStatusBarItem("berth.workspace", vscode.StatusBarAlignment.Left, 1000);
  item.name = "Berth workspace";
  item.text = `$(vm) ${name}`;
  item.tooltip = `Berth workspace ${name}`;
  item.show();
  context.subscriptions.push(item);
  log.info(`status bar shows workspace ${name}`);
}

module.exports = { activate, deactivate() {} };
