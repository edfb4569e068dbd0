// Bundles src/ into dist/ (scripts/build-ui runs this after `npm ci`). The output must be a pure
// function of the sources and the lockfile: scripts/check-ui rebuilds and compares byte for byte.
// Usage: node build.mjs [OUT_DIR]   (default: dist)
import * as esbuild from 'esbuild';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const out = path.resolve(here, process.argv[2] ?? 'dist');
fs.rmSync(out, { recursive: true, force: true });
fs.mkdirSync(out, { recursive: true });

const result = await esbuild.build({
  absWorkingDir: here,
  entryPoints: { app: 'src/main.ts', style: 'src/app.css' },
  bundle: true,
  minify: true,
  format: 'iife',
  target: ['chrome110', 'firefox110', 'safari16'],
  outdir: out,
  // Hashed names: the server sends them with a one-year immutable Cache-Control.
  entryNames: '[name]-[hash]',
  metafile: true,
  legalComments: 'linked',
  charset: 'utf8',
  logLevel: 'warning',
});

// The page shells learn the hashed names from this manifest (embedded with the bundle).
const manifest = {};
for (const [file, meta] of Object.entries(result.metafile.outputs)) {
  if (!meta.entryPoint) continue;
  const name = path.basename(file);
  const key = name.endsWith('.css') ? 'app.css' : 'app.js';
  manifest[key] = name;
}
fs.writeFileSync(path.join(out, 'manifest.json'), JSON.stringify(manifest, null, 1) + '\n');

// OpenSeadragon's button images, referenced by prefixUrl /static/osd/images/.
const osdImages = path.join(here, 'node_modules/openseadragon/build/openseadragon/images');
fs.mkdirSync(path.join(out, 'osd/images'), { recursive: true });
for (const f of fs.readdirSync(osdImages).sort()) {
  fs.copyFileSync(path.join(osdImages, f), path.join(out, 'osd/images', f));
}
