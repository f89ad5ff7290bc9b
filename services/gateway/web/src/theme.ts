/** Light, dark or the system's choice; remembered in localStorage (a preference, not a secret). */
export type Theme = "light" | "dark" | "system";
const KEY = "theme";

export function storedTheme(): Theme {
  const value = localStorage.getItem(KEY);
  return value === "light" || value === "dark" ? value : "system";
}

export function applyTheme(theme: Theme): void {
  localStorage.setItem(KEY, theme);
  // No inline script may set this before the first paint (CSP), so main.tsx calls it first thing.
  if (theme === "system") document.documentElement.removeAttribute("data-theme");
  else document.documentElement.dataset.theme = theme;
}
