// User-visible strings, from the same locale files the tray uses. English is the source of
// truth and the fallback; the Rust test keeps German in step.

import en from "../../locales/en.json";
import de from "../../locales/de.json";
import type { Error as BerthError } from "./bindings/Error";

type Tree = { [key: string]: string | Tree };
const LOCALES: Record<string, Tree> = { en, de };

let current: Tree = en;
let currentLang = "en";

/// `choice` from the settings (null: follow the system).
export function setLanguage(choice: string | null) {
  const wanted = choice ?? (navigator.language.toLowerCase().startsWith("de") ? "de" : "en");
  currentLang = LOCALES[wanted] ? wanted : "en";
  current = LOCALES[currentLang];
  document.documentElement.lang = currentLang;
}

export function language() {
  return currentLang;
}

function lookup(tree: Tree, key: string): string | undefined {
  let node: string | Tree | undefined = tree;
  for (const part of key.split(".")) {
    if (typeof node !== "object") return undefined;
    node = node[part];
  }
  return typeof node === "string" ? node : undefined;
}

export function t(key: string, args: Record<string, string | number> = {}): string {
  const template = lookup(current, key) ?? lookup(en, key) ?? key;
  return template.replace(/\{(\w+)\}/g, (whole, name) =>
    name in args ? String(args[name]) : whole,
  );
}

/// An engine error in the user's language: its key when the locales know it, else the
/// engine's English message inside a translated frame.
export function errorText(err: unknown): string {
  const e = err as Partial<BerthError>;
  if (e && typeof e === "object" && e.key && lookup(en, `errors.${e.key}`)) {
    return t(`errors.${e.key}`, (e.args ?? {}) as Record<string, string>);
  }
  const message = e && typeof e === "object" && e.message ? e.message : String(err);
  return t("errors.unexpected", { message });
}
