// Resources: what every running workspace and preview uses against its limits and the
// machine, live while this screen is open (the daemon samples only while someone watches);
// sortable by CPU or memory, a sparkline of the last minutes, Force stop per row; the global
// limits editable in place; and the disk with Clean up (disk.ts).

import { api } from "../api";
import type { ResourceRow } from "../bindings/ResourceRow";
import type { ResourcesView } from "../bindings/ResourcesView";
import type { Settings } from "../bindings/Settings";
import { h, mount } from "../dom";
import { errorText, t } from "../i18n";
import type { View } from "../main";
import { confirmDelete, errorLine, field } from "./common";
import { bytes, diskSection } from "./disk";

const MIB = 1024 * 1024;
type SortKey = "cpu" | "memory";
/// Kept across visits: the order a user chose.
let sortBy: SortKey = "cpu";

const pct = (n: number | null | undefined) => (n == null ? "—" : `${n < 10 ? n.toFixed(1) : Math.round(n)} %`);
const cores = (n: number) => (Number.isInteger(n) ? String(n) : n.toFixed(2).replace(/0$/, ""));

/// A filled bar for a share of a limit (red from 90 %).
function meter(share: number | null | undefined): HTMLElement {
  const v = Math.max(0, Math.min(100, share ?? 0));
  const bar = h("div", { class: `meter${v >= 90 ? " high" : ""}` }, h("div", {}));
  (bar.firstChild as HTMLElement).style.width = `${v}%`;
  return bar;
}

/// CPU (of its limit, solid) and memory (of its limit, dashed) over the last minutes.
function sparkline(row: ResourceRow): SVGSVGElement {
  const ns = "http://www.w3.org/2000/svg";
  const w = 120;
  const hgt = 28;
  const svg = document.createElementNS(ns, "svg");
  svg.setAttribute("viewBox", `0 0 ${w} ${hgt}`);
  svg.setAttribute("class", "sparkline");
  svg.setAttribute("data-testid", `res-spark-${row.id}`);
  svg.setAttribute("data-points", String(row.history.length));
  const memLimit = row.limits.memory_bytes || 1;
  const line = (values: number[], cls: string) => {
    if (values.length < 2) return;
    const step = w / (values.length - 1);
    const points = values.map((v, i) => `${(i * step).toFixed(1)},${(hgt - 1 - (Math.min(v, 100) / 100) * (hgt - 2)).toFixed(1)}`);
    const poly = document.createElementNS(ns, "polyline");
    poly.setAttribute("points", points.join(" "));
    poly.setAttribute("class", cls);
    svg.append(poly);
  };
  line(row.history.map((p) => (p.memory_bytes / memLimit) * 100), "mem");
  line(row.history.map((p) => p.cpu_of_limit), "cpu");
  return svg;
}

function sorted(view: ResourcesView): ResourceRow[] {
  const key = (r: ResourceRow) => (sortBy === "cpu" ? r.usage?.cpu_cores ?? 0 : r.usage?.memory_bytes ?? 0);
  return [...view.rows].sort((a, b) => key(b) - key(a) || a.id.localeCompare(b.id));
}

function rowName(r: ResourceRow): HTMLElement {
  if (r.kind === "workspace") {
    return h("a", { href: `#/w/${encodeURIComponent(r.workspace)}` }, r.workspace);
  }
  return h("span", {}, h("strong", {}, r.workspace), h("small", { class: "muted block" }, t("resources.preview", { id: r.id })));
}

/// One table row, made once per container and updated in place every second, so a button
/// being clicked (or a dialog it opened) is never swapped out underneath the user.
type Row = { el: HTMLElement; update: (r: ResourceRow) => void };

function makeRow(first: ResourceRow, modal: HTMLElement): Row {
  let r = first;
  const error = errorLine(`res-error-${r.id}`);
  const stop = h("button", { class: "danger small", "data-testid": `res-force-${r.id}` }, t("resources.force_stop"));
  stop.onclick = () =>
    confirmDelete(modal, t("resources.force_title", { name: r.kind === "workspace" ? r.id : `${r.workspace} · ${r.id}` }),
      t(r.kind === "workspace" ? "resources.force_body" : "resources.force_body_preview"), t("resources.force_stop"), async () => {
        stop.disabled = true;
        try {
          if (r.kind === "workspace") await api.forceStop(r.id);
          else await api.forceStopPreview(r.id);
        } catch (err) {
          error.textContent = errorText(err);
          stop.disabled = false;
        }
      });
  const cpu = h("td", { "data-testid": `res-cpu-${r.id}` });
  const mem = h("td", { "data-testid": `res-mem-${r.id}` });
  const pids = h("td", { "data-testid": `res-pids-${r.id}` });
  const net = h("td", { class: "small" });
  const volume = h("td", { class: "small" });
  const spark = h("td");
  const el = h("tr", { "data-testid": `res-row-${r.id}`, "data-kind": r.kind },
    h("td", {}, rowName(r), h("div", {}, stop), error), cpu, mem, pids, net, volume, spark);
  const update = (next: ResourceRow) => {
    r = next;
    const u = r.usage;
    cpu.setAttribute("data-value", String(u?.cpu_of_limit ?? ""));
    mount(cpu,
      h("div", {}, r.limits.cpus > 0
        ? t("resources.of_cores", { pct: pct(u?.cpu_of_limit), cores: cores(r.limits.cpus) })
        : t("resources.of_machine", { pct: pct(u?.cpu_of_limit) })),
      meter(u?.cpu_of_limit),
      h("small", { class: "muted" }, t("resources.of_machine", { pct: pct(u?.cpu_of_machine) })));
    mem.setAttribute("data-value", String(u?.memory_bytes ?? ""));
    mount(mem,
      h("div", {}, u ? `${bytes(u.memory_bytes)} / ${bytes(u.memory_limit_bytes)}` : "—"),
      meter(u && u.memory_limit_bytes ? (u.memory_bytes / u.memory_limit_bytes) * 100 : null));
    pids.textContent = u ? `${u.pids} / ${u.pids_limit}` : "—";
    mount(net, h("div", {}, u ? `↓ ${bytes(u.rx_bytes)}` : "—"), h("div", {}, u ? `↑ ${bytes(u.tx_bytes)}` : ""));
    volume.textContent = r.volume_bytes == null ? "—" : bytes(r.volume_bytes);
    mount(spark, sparkline(r));
  };
  update(r);
  return { el, update };
}

function totals(view: ResourcesView): HTMLElement {
  const tt = view.totals;
  return h(
    "div",
    { class: "totals", "data-testid": "res-totals" },
    h("div", {}, h("span", { class: "label" }, t("resources.running")),
      h("strong", { "data-testid": "res-running" }, t("resources.running_of", { n: tt.running, max: tt.max_running }))),
    h("div", {}, h("span", { class: "label" }, t("resources.cpu")),
      h("strong", {}, t("resources.cores_of", { used: tt.cpu_cores.toFixed(2), cores: view.machine.cpus, pct: pct(tt.cpu_of_machine) })),
      meter(tt.cpu_of_machine)),
    h("div", {}, h("span", { class: "label" }, t("resources.memory")),
      h("strong", {}, `${bytes(tt.memory_bytes)} / ${bytes(view.machine.memory_bytes)} (${pct(tt.memory_of_machine)})`),
      meter(tt.memory_of_machine)),
  );
}

/// The running cap and the default limits, saved through the engine (which validates them).
function limitsForm(): HTMLElement {
  const el = h("div");
  const error = errorLine("res-limits-error");
  const saved = h("span", { class: "ok", "data-testid": "res-limits-saved" });
  api.settings().then((s: Settings) => {
    const input = (value: number, id: string, step: string) =>
      h("input", { type: "number", value: String(value), step, "data-testid": id });
    const max = input(s.max_running, "res-max-running", "1");
    const cpus = input(s.default_limits.cpus, "res-cpus", "0.5");
    const memory = input(s.default_limits.memory_bytes / MIB, "res-memory", "256");
    const pids = input(s.default_limits.pids, "res-pids", "64");
    const save = h("button", { class: "primary", type: "submit", "data-testid": "res-limits-save" }, t("resources.save_limits"));
    const form = h("form", {
      onsubmit: async (ev: Event) => {
        ev.preventDefault();
        error.textContent = "";
        saved.textContent = "";
        try {
          const fresh = await api.settings(); // the rest as it is now, not as it was
          await api.saveSettings({
            ...fresh,
            max_running: Number(max.value),
            default_limits: { cpus: Number(cpus.value), memory_bytes: Math.round(Number(memory.value) * MIB), pids: Number(pids.value) },
          });
          saved.textContent = t("settings.saved");
        } catch (err) {
          error.textContent = errorText(err);
        }
      },
    },
    h("fieldset", {}, h("legend", {}, t("resources.limits")),
      h("div", { class: "grid4" },
        field(t("settings.max_running"), max, h("span")),
        field(t("create.cpus"), cpus, h("span")),
        field(t("create.memory_mib"), memory, h("span")),
        field(t("create.pids"), pids, h("span"))),
      h("small", {}, t("resources.limits_hint")),
      error,
      h("div", { class: "row" }, save, saved)));
    mount(el, form);
  }, (err) => (error.textContent = errorText(err)));
  return h("div", {}, el, error);
}

export function resourcesView(): View {
  const modal = h("div");
  const head = h("div", { "data-testid": "res-head" }, h("p", { class: "muted" }, t("resources.waiting")));
  const body = h("tbody");
  const error = errorLine("res-error");
  let last: ResourcesView | null = null;
  const shown = new Map<string, Row>();
  // Made once, like the rows: a click on a sort button is never lost to a redraw.
  const sortButtons = new Map<SortKey, HTMLButtonElement>();
  const sortButton = (key: SortKey, label: string) => {
    const b = h("button", { class: "link sort", "data-testid": `res-sort-${key}`, onclick: () => { sortBy = key; draw(); } }, label);
    sortButtons.set(key, b);
    return b;
  };
  const header = h("thead", {}, h("tr", {},
    h("th", {}, t("resources.name")),
    h("th", {}, sortButton("cpu", t("resources.cpu"))),
    h("th", {}, sortButton("memory", t("resources.memory"))),
    h("th", {}, t("resources.pids")),
    h("th", {}, t("resources.network")),
    h("th", {}, t("resources.volume")),
    h("th", {}, t("resources.history"))));
  const draw = () => {
    for (const [key, b] of sortButtons) {
      b.classList.toggle("active", key === sortBy);
      b.setAttribute("data-active", String(key === sortBy));
    }
    if (!last) return;
    mount(head, totals(last));
    const rows = sorted(last);
    if (!rows.length) {
      shown.clear();
      mount(body, h("tr", {}, h("td", { colspan: "7", class: "muted", "data-testid": "res-none" }, t("resources.none"))));
      return;
    }
    const key = (r: ResourceRow) => `${r.kind}:${r.id}`;
    const keys = new Set(rows.map(key));
    for (const k of [...shown.keys()]) if (!keys.has(k)) shown.delete(k);
    // Appending an existing row moves it: the order changes, the elements stay.
    mount(body, ...rows.map((r) => {
      const existing = shown.get(key(r));
      if (existing) {
        existing.update(r);
        return existing.el;
      }
      const made = makeRow(r, modal);
      shown.set(key(r), made);
      return made.el;
    }));
  };
  draw();
  // Watched only while the screen is seen: a window closed to the tray (hidden) stops the
  // daemon's sampling like leaving the screen does.
  let watch: Promise<number | null> | null = null;
  let gone = false;
  const start = () => {
    if (watch || gone) return;
    error.textContent = "";
    watch = api.watchResources((view) => {
      last = view;
      draw();
    }).catch((err) => {
      error.textContent = errorText(err);
      return null;
    });
  };
  const stop = () => {
    const w = watch;
    watch = null;
    void w?.then((id) => {
      if (id !== null) void api.stopResources(id);
    });
  };
  const onVisibility = () => (document.hidden ? stop() : start());
  document.addEventListener("visibilitychange", onVisibility);
  if (!document.hidden) start();
  const el = h("section", { class: "resources", "data-testid": "resources" },
    h("h1", {}, t("resources.title")),
    head,
    error,
    h("table", { class: "usage", "data-testid": "res-table" }, header, body),
    limitsForm(),
    diskSection(modal),
    modal);
  return {
    el,
    dispose: () => {
      gone = true;
      document.removeEventListener("visibilitychange", onVisibility);
      stop();
    },
  };
}
