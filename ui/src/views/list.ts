// The workspaces list: live status (engine events), address, idle stop, actions.

import type { View } from "../main";
import { go } from "../main";
import type { WorkspaceView as Workspace } from "../bindings/WorkspaceView";
import { h, mount } from "../dom";
import { t } from "../i18n";
import { state } from "../state";
import { actionButtons, errorLine, idleText, progressLine, statusBadge } from "./common";

function row(ws: Workspace): HTMLElement {
  const error = errorLine(`ws-error-${ws.name}`);
  const url = ws.url ?? "—";
  return h(
    "tr",
    { "data-testid": `ws-row-${ws.name}` },
    h("td", {}, h("a", { href: `#/w/${encodeURIComponent(ws.name)}`, "data-testid": `ws-details-${ws.name}` }, ws.name),
      ws.description ? h("small", { class: "muted block" }, ws.description) : null),
    h("td", {}, statusBadge(ws), progressLine(ws.name)),
    h("td", { class: "mono" }, ws.image),
    h("td", { class: "mono small" }, ws.projects.map((p) => h("div", {}, p))),
    h("td", { class: "mono" }, url),
    h("td", {}, idleText(ws)),
    h("td", {}, actionButtons(ws, error), error),
  );
}

function empty(): HTMLElement {
  return h(
    "section",
    { class: "empty", "data-testid": "empty-state" },
    h("h2", {}, t("list.empty_title")),
    h("p", {}, t("list.empty_body")),
    h("button", { class: "primary", onclick: () => go("#/new") }, t("list.empty_action")),
  );
}

export function listView(): View {
  const el = h("section", { class: "list" });
  const refresh = () => {
    const list = [...state.workspaces.values()].sort((a, b) => a.name.localeCompare(b.name));
    if (!state.loaded) return mount(el);
    if (list.length === 0) return mount(el, empty());
    mount(
      el,
      h("h1", {}, t("nav.workspaces")),
      h(
        "table",
        {},
        h("thead", {}, h("tr", {}, ...["name", "status", "image", "projects", "address", "idle", ""].map((k) => h("th", {}, k ? t(`list.${k}`) : "")))),
        h("tbody", {}, list.map(row)),
      ),
    );
  };
  refresh();
  return { el, refresh };
}
