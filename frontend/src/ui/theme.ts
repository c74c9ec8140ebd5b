/** Light, dark, or the system's choice (kept in localStorage). The page always carries the
 * resolved theme in `data-theme`, so the stylesheet defines each palette once. */
export type Theme = "system" | "light" | "dark";

const KEY = "oqto.theme";
const darkQuery = () => (typeof matchMedia === "undefined" ? null : matchMedia("(prefers-color-scheme: dark)"));
let following: (() => void) | null = null;

export function storedTheme(): Theme {
  const value = typeof localStorage === "undefined" ? null : localStorage.getItem(KEY);
  return value === "light" || value === "dark" ? value : "system";
}

export function resolveTheme(theme: Theme, systemDark: boolean): "light" | "dark" {
  return theme === "system" ? (systemDark ? "dark" : "light") : theme;
}

export function applyTheme(theme: Theme): void {
  const root = document.documentElement;
  const query = darkQuery();
  const update = () => {
    root.dataset.theme = resolveTheme(theme, query?.matches ?? false);
  };
  if (following) query?.removeEventListener("change", following);
  following = theme === "system" ? update : null;
  if (following) query?.addEventListener("change", following);
  update();
  root.dataset.themeChoice = theme;
  localStorage.setItem(KEY, theme);
}

export function nextTheme(theme: Theme): Theme {
  return theme === "system" ? "dark" : theme === "dark" ? "light" : "system";
}
