// Activity in words and countdowns: where a workspace stands on idleness, and why. Countdowns
// are elements that carry their deadline; one ticker rewrites their text each second while
// any is on screen (no view re-renders for a clock).

import type { ActivityView } from "./bindings/ActivityView";
import type { SignalSeen } from "./bindings/SignalSeen";
import { h } from "./dom";
import { language, t } from "./i18n";

/// `45 s`, `4:12`, `1 h 5 min`: how long, for a person.
export function duration(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
  return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
}

export function clock(ms: number): string {
  return new Intl.DateTimeFormat(language(), { timeStyle: "short" }).format(new Date(ms));
}

/// How a countdown other than `duration` writes the time left, by element.
const formats = new WeakMap<Element, (ms: number) => string>();

/// An element showing the time left until `atMs` (the daemon's clock is this machine's).
export function countdown(atMs: number, format = duration): HTMLElement {
  const el = h("span", { class: "countdown", "data-countdown": String(atMs) }, format(atMs - Date.now()));
  if (format !== duration) formats.set(el, format);
  ensureTicker();
  return el;
}

let ticker: number | null = null;

function ensureTicker() {
  if (ticker !== null) return;
  ticker = window.setInterval(() => {
    const all = document.querySelectorAll<HTMLElement>("[data-countdown]");
    if (all.length === 0 && ticker !== null) {
      window.clearInterval(ticker);
      ticker = null;
      return;
    }
    for (const el of all) {
      // Written only when it reads differently ("23 h 59 min" stays for a minute).
      const text = (formats.get(el) ?? duration)(Number(el.dataset.countdown) - Date.now());
      if (el.textContent !== text) el.textContent = text;
    }
  }, 1000);
}

/// "stops in 4:12", the number counting down, in the user's language.
export function stopsIn(atMs: number): HTMLElement {
  return withCountdown("activity.stops_in", {}, atMs);
}

/// Text `key` with its `{left}` replaced by a live countdown to `atMs`.
export function withCountdown(key: string, args: Record<string, string>, atMs: number, format = duration): HTMLElement {
  const [before, after] = t(key, { ...args, left: "\u0000" }).split("\u0000");
  return h("span", {}, before ?? "", countdown(atMs, format), after ?? "");
}

export function signalText(s: SignalSeen): string {
  const detail = s.detail ?? "";
  if (s.signal === "input") {
    const kind = ["editor", "terminal", "window"].includes(detail) ? `input_${detail}` : "input";
    return t(`activity.signal.${kind}`);
  }
  return t(`activity.signal.${s.signal}`, { detail });
}

/// The one line of where `a` stands (the detail view's heading of its activity block).
export function stateLine(a: ActivityView): HTMLElement {
  const latest = a.signals[0];
  const ago = (at: number) => duration(a.now_ms - at);
  const what = latest ? signalText(latest) : t("activity.signal.started");
  switch (a.state) {
    case "active":
      return h("span", {}, t("activity.active", { what, ago: latest ? ago(latest.at_ms) : "0 s", time: clock(a.stops_at_ms), left: duration(a.stops_at_ms - a.now_ms) }));
    case "warned":
      return h("span", { class: "warn" }, t("activity.warned", { since: clock(a.idle_since_ms), time: clock(a.stops_at_ms) }), " · ", stopsIn(a.stops_at_ms));
    case "never":
      return h("span", {}, latest ? t("activity.active_never", { what, ago: ago(latest.at_ms) }) : t("activity.never"));
    case "held":
      return h("span", {}, t("activity.held", { by: a.held_by.join(", ") }));
    case "stopped_idle":
      return h("span", {}, t("activity.stopped_idle", { time: clock(a.stopped_at_ms), idle: duration(a.stopped_at_ms - a.idle_since_ms) }));
    case "stopping":
      return h("span", {}, t("activity.stopping"));
    default:
      return h("span", {}, t("activity.not_running"));
  }
}
