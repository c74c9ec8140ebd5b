import { defineConfig } from "vitest/config";
import react from "@vitejs/plugin-react";

// `npm run dev` serves the UI with hot reload and sends /api (REST and the mux WebSocket) to a
// running gateway: OQTO_GATEWAY, default the single-node stack's http://127.0.0.1:8080.
const gateway = process.env.OQTO_GATEWAY ?? "http://127.0.0.1:8080";

export default defineConfig({
  plugins: [react()],
  server: {
    proxy: {
      "/api": {
        target: gateway,
        ws: true,
        changeOrigin: true,
        // The gateway accepts a browser's writes and WebSocket only from its own origin: the
        // dev server speaks for the page, so it presents the gateway's.
        configure: (proxy) => {
          const asGateway = (request: { getHeader(name: string): unknown; setHeader(name: string, value: string): void }) => {
            if (request.getHeader("origin")) request.setHeader("origin", new URL(gateway).origin);
          };
          proxy.on("proxyReq", asGateway);
          proxy.on("proxyReqWs", asGateway);
        },
      },
    },
  },
  build: { outDir: "dist", sourcemap: true, chunkSizeWarningLimit: 1500 },
  test: { include: ["src/**/*.test.ts"], environment: "node" },
});
