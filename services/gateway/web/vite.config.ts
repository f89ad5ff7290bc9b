import react from "@vitejs/plugin-react";
import { defineConfig } from "vitest/config";

export default defineConfig({
  plugins: [react()],
  build: {
    // The gateway serves dist/assets as immutable (hashed names) and everything else as no-cache.
    assetsDir: "assets",
    sourcemap: false,
    // Inlined assets would become data: URLs; the CSP allows data: only for images.
    assetsInlineLimit: 0,
  },
  server: {
    // `npm run dev` against a gateway on the default port.
    proxy: { "/api": "http://127.0.0.1:8000", "/v1": "http://127.0.0.1:8000" },
  },
  test: {
    environment: "node",
    include: ["src/**/*.test.ts", "src/**/*.test.tsx"],
  },
});
