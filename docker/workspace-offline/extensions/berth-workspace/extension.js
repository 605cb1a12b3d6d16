// Berth's built-in extension. Today it names the workspace in the status bar (several IDE
// windows look alike); it is also where Berth's in-IDE features live as they arrive.
"use strict";
const vscode = require("vscode");

function activate(context) {
  const name = process.env.BERTH_WORKSPACE;
  if (!name) return;
  const item = vscode.window.createStatusBarItem("berth.workspace", vscode.StatusBarAlignment.Left, 1000);
  item.name = "Berth workspace";
  item.text = `$(vm) ${name}`;
  item.tooltip = `Berth workspace ${name}`;
  item.show();
  context.subscriptions.push(item);
}

module.exports = { activate, deactivate() {} };
