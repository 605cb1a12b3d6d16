// Berth's built-in extension. It names the workspace in the status bar (several IDE windows
// look alike), and it tells Berth when a person uses the IDE, so the idle stop never stops a
// workspace someone works in. What it does goes to its "Berth" output channel (and so to
// code-server's logs).
//
// Input is what a person does: typing and cursor moves or clicks in an editor, switching
// editors, a command run in a terminal, focusing the window. Not input: an open tab, a
// connection, a language server's work, VS Code's own "active" flag (it is also raised by
// long-running progress). Reports go to Berth's activity folder ($BERTH_ACTIVITY/input) at
// most once every 2 s; Berth notes when it sees the write, whatever the file says.
"use strict";
const vscode = require("vscode");
const fs = require("fs");
const path = require("path");

const THROTTLE_MS = 2000;

function inputReporter(dir, log) {
  const file = path.join(dir, "input");
  let last = 0;
  let pending = null;
  let timer = null;
  const write = (kind) => {
    last = Date.now();
    fs.writeFile(file, kind, (err) => {
      if (err) log.warn(`cannot report input: ${err.message}`);
    });
  };
  const report = (kind) => {
    const wait = last + THROTTLE_MS - Date.now();
    if (wait <= 0) {
      write(kind);
      return;
    }
    // The last input of a burst is reported when the throttle allows: Berth's "last input"
    // is never more than 2 s early.
    pending = kind;
    if (!timer) {
      timer = setTimeout(() => {
        timer = null;
        write(pending);
      }, wait);
    }
  };
  return { report, dispose: () => timer && clearTimeout(timer) };
}

function watchInput(context, dir, log) {
  const reporter = inputReporter(dir, log);
  context.subscriptions.push(reporter);
  const { report } = reporter;
  const Kind = vscode.TextEditorSelectionChangeKind;
  const on = (event, handler) => context.subscriptions.push(event(handler));
  on(vscode.workspace.onDidChangeTextDocument, (e) => {
    const active = vscode.window.activeTextEditor;
    if (e.contentChanges.length > 0 && active && active.document === e.document) report("editor");
  });
  on(vscode.window.onDidChangeTextEditorSelection, (e) => {
    // Keyboard or mouse; a command (an extension moving the cursor) is not a person.
    if (e.kind === Kind.Keyboard || e.kind === Kind.Mouse) report("editor");
  });
  on(vscode.window.onDidChangeActiveTextEditor, (editor) => editor && report("editor"));
  on(vscode.window.onDidChangeTerminalState, (t) => t.state.isInteractedWith && report("terminal"));
  on(vscode.window.onDidChangeActiveTerminal, (t) => t && report("terminal"));
  if (vscode.window.onDidStartTerminalShellExecution) {
    on(vscode.window.onDidStartTerminalShellExecution, () => report("terminal"));
  }
  on(vscode.window.onDidChangeWindowState, (s) => s.focused && report("window"));
  log.info(`reporting input to ${dir}`);
  return report;
}

// Berth writes $BERTH_ACTIVITY/warning (when it stops, in Unix ms) while its idle warning is
// out: shown here too, for whoever uses the IDE in a browser, with Keep running — pressing it
// is input, which takes the warning back.
function watchWarning(context, dir, log, report) {
  const file = path.join(dir, "warning");
  let shown = null;
  const check = () => {
    fs.readFile(file, "utf8", (err, text) => {
      const stopsAt = err ? NaN : Number(text.trim());
      if (!Number.isFinite(stopsAt) || stopsAt === shown) return;
      shown = stopsAt;
      const minutes = Math.max(0, Math.round((stopsAt - Date.now()) / 60000));
      const left = minutes >= 1 ? `${minutes} min` : "less than a minute";
      log.info("showed the idle warning");
      vscode.window
        .showWarningMessage(`Berth stops this workspace in ${left}: nothing happened in it for a while.`, "Keep running")
        .then((choice) => {
          if (choice === "Keep running") report("window");
        });
    });
  };
  const watcher = fs.watch(dir, (_event, name) => name === "warning" && check());
  context.subscriptions.push({ dispose: () => watcher.close() });
  check();
}

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
  const dir = process.env.BERTH_ACTIVITY;
  if (dir && fs.existsSync(dir)) {
    const report = watchInput(context, dir, log);
    watchWarning(context, dir, log, report);
  } else {
    log.warn("no activity folder (BERTH_ACTIVITY): input does not reach Berth's idle stop");
  }
}

module.exports = { activate, deactivate() {} };
