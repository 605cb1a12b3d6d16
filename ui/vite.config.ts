import { defineConfig } from "vite";

// The UI is served from Tauri's custom protocol: relative asset paths, no dev server needed.
export default defineConfig({
  base: "./",
  clearScreen: false,
  build: { outDir: "dist", emptyOutDir: true, target: "es2022" },
  server: { fs: { allow: [".."] } },
});
