// API keys: the settings' section that stores, tests and removes them (values go in through a
// hidden field and never come back), the create form's choice of keys and mode, and the
// detail view's usage of each key today.

import { api } from "../api";
import type { KeyInfo } from "../bindings/KeyInfo";
import type { KeyUsage } from "../bindings/KeyUsage";
import type { KeyUse } from "../bindings/KeyUse";
import { h, mount } from "../dom";
import { errorText, language, t } from "../i18n";
import { errorLine, field } from "./common";

const PROVIDERS = ["anthropic", "openai"] as const;

/// Settings → API keys.
export function keysSection(): HTMLElement {
  const list = h("div", { "data-testid": "keys-list" });
  const error = errorLine("keys-error");
  const which = h("select", { "data-testid": "key-name-select" },
    ...PROVIDERS.map((p) => h("option", { value: p }, t(`keys.provider_${p}`))),
    h("option", { value: "" }, t("keys.provider_own")));
  const ownName = h("input", { "data-testid": "key-own-name", placeholder: "github-token", spellcheck: "false", hidden: true });
  which.addEventListener("change", () => (ownName.hidden = which.value !== ""));
  // Hidden as it is typed, never filled back in, never remembered by the web view.
  const value = h("input", { type: "password", autocomplete: "off", "data-testid": "key-value", spellcheck: "false" });
  const baseUrl = h("input", { "data-testid": "key-base-url", placeholder: "https://api.anthropic.com", spellcheck: "false" });

  const load = async () => {
    try {
      render(await api.keys());
    } catch (err) {
      error.textContent = errorText(err);
    }
  };
  const fmt = () => new Intl.DateTimeFormat(language(), { dateStyle: "medium", timeStyle: "short" });
  const render = (keys: KeyInfo[]) => {
    if (!keys.length) return mount(list, h("p", { class: "muted", "data-testid": "keys-empty" }, t("keys.none")));
    mount(list, h("table", { class: "keys" },
      h("thead", {}, h("tr", {},
        h("th", {}, t("keys.name")), h("th", {}, t("keys.value")), h("th", {}, t("keys.last_test")), h("th", {}, t("keys.used_by")), h("th"))),
      h("tbody", {}, keys.map((k) => keyRow(k)))));
  };
  const keyRow = (k: KeyInfo) => {
    const result = h("span", { "data-testid": `key-result-${k.name}` },
      k.test_result === null ? t("keys.never_tested")
        : k.test_result === "ok" ? t("keys.test_ok", { time: fmt().format(new Date((k.tested_at ?? 0) * 1000)) })
          : k.test_result);
    result.className = k.test_result === null ? "muted" : k.test_result === "ok" ? "ok" : "error";
    const rowError = h("div", { class: "error" });
    const busy = (b: HTMLButtonElement, fn: () => Promise<void>) => async () => {
      b.disabled = true;
      rowError.textContent = "";
      try { await fn(); } catch (err) { rowError.textContent = errorText(err); } finally { b.disabled = false; }
    };
    const test: HTMLButtonElement = h("button", { type: "button", "data-testid": `key-test-${k.name}` }, t("keys.test"));
    test.onclick = busy(test, async () => {
      result.className = "muted";
      result.textContent = t("keys.testing");
      await api.testKey(k.name).finally(load);
    });
    const remove: HTMLButtonElement = h("button", { type: "button", class: "danger", "data-testid": `key-remove-${k.name}` }, t("keys.remove"));
    remove.onclick = busy(remove, async () => { await api.removeKey(k.name); await load(); });
    return h("tr", { "data-testid": `key-row-${k.name}` },
      h("td", {}, h("strong", {}, k.name), k.base_url ? h("small", { class: "muted block mono" }, k.base_url) : null),
      h("td", { class: "mono" }, k.last4 ? `…${k.last4}` : "•••"),
      h("td", {}, result),
      h("td", {}, k.used_by.length ? k.used_by.join(", ") : "—"),
      h("td", {}, h("span", { class: "actions" }, test, remove), rowError));
  };

  const save: HTMLButtonElement = h("button", { type: "submit", class: "primary", "data-testid": "key-save" }, t("keys.save"));
  const form = h("form", {
    onsubmit: async (ev: Event) => {
      ev.preventDefault();
      error.textContent = "";
      save.disabled = true;
      try {
        await api.setKey(which.value || ownName.value.trim(), value.value, baseUrl.value.trim() || null);
        value.value = "";
        await load();
      } catch (err) {
        error.textContent = errorText(err);
      } finally {
        save.disabled = false;
      }
    },
  },
  h("div", { class: "grid3" },
    field(t("keys.which"), h("div", {}, which, ownName), h("span")),
    field(t("keys.value"), value, h("span")),
    field(t("keys.base_url"), baseUrl, h("span"))),
  error,
  h("div", { class: "row" }, save));
  void load();
  return h("section", { class: "card keys-card", "data-testid": "settings-keys" },
    h("h2", {}, t("keys.title")),
    h("p", { class: "muted" }, t("keys.explain")),
    list,
    form);
}

/// The create form's keys: which stored keys the workspace gets, each through the proxy
/// (default) or as an environment variable, with an optional daily budget.
export function keyChoice(): { el: HTMLElement; chosen: () => KeyUse[] } {
  const rows: { use: HTMLInputElement; mode: HTMLSelectElement; requests: HTMLInputElement; tokens: HTMLInputElement; name: string }[] = [];
  const el = h("fieldset", { "data-testid": "create-keys" }, h("legend", {}, t("keys.create_title")));
  api.keys().then((keys) => {
    if (!keys.length) return el.append(h("small", {}, t("keys.create_none")));
    for (const k of keys) {
      const use = h("input", { type: "checkbox", "data-testid": `create-key-${k.name}` });
      const proxy = k.provider !== "generic";
      const mode = h("select", { "data-testid": `create-key-mode-${k.name}` },
        proxy ? h("option", { value: "proxy" }, t("keys.mode_proxy")) : null,
        h("option", { value: "env" }, t("keys.mode_env", { var: k.env_var })));
      const requests = h("input", { type: "number", min: "1", placeholder: "—", "data-testid": `create-key-requests-${k.name}` });
      const tokens = h("input", { type: "number", min: "1", step: "1000", placeholder: "—" });
      const warn = h("small", { class: "warn block", "data-testid": `create-key-env-warning-${k.name}` }, t("keys.env_warning"));
      const sync = () => {
        const env = mode.value === "env";
        // Not `hidden`: the class's display would win over it.
        warn.style.display = env ? "" : "none";
        requests.disabled = tokens.disabled = env;
      };
      mode.addEventListener("change", sync);
      sync();
      rows.push({ use, mode, requests, tokens, name: k.name });
      el.append(h("div", { class: "key-choice" },
        h("label", { class: "toggle" }, use, h("strong", {}, k.name), k.last4 ? h("span", { class: "muted mono" }, ` …${k.last4}`) : null),
        mode,
        h("label", {}, t("keys.requests_per_day"), requests),
        h("label", {}, t("keys.tokens_per_day"), tokens),
        warn));
    }
  }, (err) => el.append(h("small", { class: "error" }, errorText(err))));
  const num = (i: HTMLInputElement) => (i.disabled || i.value.trim() === "" ? null : Number(i.value));
  return {
    el,
    chosen: () =>
      rows.filter((r) => r.use.checked).map((r) => ({
        key: r.name,
        mode: r.mode.value as KeyUse["mode"],
        budget: { requests_per_day: num(r.requests), tokens_per_day: num(r.tokens) },
      })),
  };
}

/// The detail view's keys: mode and today's use against the budget.
export function usageLines(usage: KeyUsage[]): HTMLElement | null {
  if (!usage.length) return null;
  const n = (v: number) => new Intl.NumberFormat(language()).format(v);
  return h("ul", { class: "signals", "data-testid": "detail-usage" },
    usage.map((u) => h("li", { "data-key": u.key },
      h("strong", {}, u.key),
      u.mode === "env"
        ? h("span", { class: "warn" }, t("keys.usage_env"))
        : h("span", {}, t("keys.usage_proxy", {
          requests: u.budget.requests_per_day === null ? n(u.today.requests) : t("keys.of", { used: n(u.today.requests), limit: n(u.budget.requests_per_day) }),
          tokens: u.budget.tokens_per_day === null ? n(u.tokens_today) : t("keys.of", { used: n(u.tokens_today), limit: n(u.budget.tokens_per_day) }),
        })))));
}
