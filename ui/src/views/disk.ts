// The Resources screen's disk section: what Berth's images, volumes and containers take, and
// Clean up, which shows exactly what goes before it removes only that.

import { api } from "../api";
import type { DiskUsage } from "../bindings/DiskUsage";
import type { Leftover } from "../bindings/Leftover";
import { h, mount } from "../dom";
import { errorText, t } from "../i18n";
import { confirmDelete, errorLine } from "./common";

/// Bytes as people read them: `512 B`, `3.4 MiB`, `1.2 GiB`.
export function bytes(n: number): string {
  const units = ["KiB", "MiB", "GiB", "TiB"];
  if (n < 1024) return `${n} B`;
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i + 1 < units.length) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(1)} ${units[i]}`;
}

function leftoverList(list: Leftover[]): HTMLElement {
  return h("ul", { class: "leftovers", "data-testid": "leftovers" },
    list.map((l) => h("li", { "data-testid": `leftover-${l.kind}`, "data-id": l.id },
      h("span", { class: "badge" }, t(`resources.leftover_${l.kind}`)),
      h("span", { class: "mono" }, l.label),
      h("span", { class: "muted" }, l.size_bytes == null ? "" : bytes(l.size_bytes)))));
}

function table(d: DiskUsage): HTMLElement {
  const volumes = d.volumes.reduce((sum, v) => sum + (v.size_bytes ?? 0), 0);
  const unmeasured = d.volumes.some((v) => v.size_bytes == null);
  const line = (what: string, count: string, size: string, id: string) =>
    h("tr", { "data-testid": `disk-${id}` }, h("td", {}, what), h("td", {}, count), h("td", {}, size));
  return h("table", { class: "disk" },
    h("thead", {}, h("tr", {}, h("th", {}, t("resources.disk_what")), h("th", {}, t("resources.disk_count")), h("th", {}, t("resources.disk_size")))),
    h("tbody", {},
      line(t("resources.disk_images"), String(d.images), bytes(d.images_bytes), "images"),
      line(t("resources.disk_volumes"), String(d.volumes.length),
        bytes(volumes) + (unmeasured ? ` (${t("resources.disk_unmeasured")})` : ""), "volumes"),
      line(t("resources.disk_containers"),
        t("resources.disk_stopped", { n: d.containers, stopped: d.stopped_containers }),
        t("resources.disk_stopped_size", { size: bytes(d.containers_bytes), stopped: bytes(d.stopped_containers_bytes) }), "containers")));
}

export function diskSection(modal: HTMLElement): HTMLElement {
  const el = h("div");
  const error = errorLine("disk-error");
  const result = h("div", { class: "ok", "data-testid": "disk-result" });
  const load = () =>
    api.diskUsage().then((d) => {
      const clean = h("button", { class: "danger", "data-testid": "disk-clean", disabled: d.leftovers.length === 0 },
        t("resources.clean_up"));
      clean.onclick = () => {
        // What the user saw is what goes: the ids are passed along, anything newer waits.
        const shown = d.leftovers;
        const body = h("div", {}, h("p", {}, t("resources.clean_body", { n: shown.length, size: bytes(d.reclaimable_bytes) })),
          leftoverList(shown));
        confirmDelete(modal, t("resources.clean_title"), body, t("resources.clean_confirm", { n: shown.length }), async () => {
          error.textContent = "";
          try {
            const done = await api.prune(false, shown.map((l) => l.id));
            result.textContent = t("resources.cleaned", { n: done.removed.length, size: bytes(done.reclaimed_bytes) });
            if (done.failed.length) {
              error.textContent = done.failed.map(([l, why]) => `${t(`resources.leftover_${l.kind}`)} ${l.label}: ${why}`).join("\n");
            }
          } catch (err) {
            error.textContent = errorText(err);
          }
          await load();
        });
      };
      mount(el, table(d),
        h("h3", {}, t("resources.leftovers", { size: bytes(d.reclaimable_bytes) })),
        d.leftovers.length ? leftoverList(d.leftovers) : h("p", { class: "muted", "data-testid": "leftovers-none" }, t("resources.no_leftovers")),
        h("p", { class: "small muted" }, t("resources.clean_hint")),
        h("div", { class: "row" }, clean, result));
    }, (err) => (error.textContent = errorText(err)));
  void load();
  return h("section", { class: "disk-usage", "data-testid": "disk" }, h("h2", {}, t("resources.disk")), el, error);
}
