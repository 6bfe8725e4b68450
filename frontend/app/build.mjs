// Bundles src/main.ts and its CSS (Uppy's included) into ../../streamify/web/static/app with
// content-hashed names, then writes index.html naming them: the API serves the lot, nothing is
// fetched from the internet at run time.
import { copyFileSync, mkdirSync, rmSync, writeFileSync } from 'node:fs'
import { basename } from 'node:path'
import * as esbuild from 'esbuild'

const outdir = new URL('../../streamify/web/static/app/', import.meta.url).pathname
rmSync(outdir, { recursive: true, force: true })
mkdirSync(outdir, { recursive: true })

const result = await esbuild.build({
  entryPoints: { main: 'src/main.ts' },
  bundle: true,
  minify: true,
  sourcemap: true,
  format: 'esm',
  target: 'es2022',
  outdir,
  entryNames: '[name]-[hash]',
  assetNames: '[name]-[hash]',
  loader: { '.svg': 'file', '.woff2': 'file' },
  metafile: true,
  logLevel: 'warning',
})

const outputs = Object.keys(result.metafile.outputs).map((path) => basename(path))
const script = outputs.find((name) => name.startsWith('main-') && name.endsWith('.js'))
const style = outputs.find((name) => name.startsWith('main-') && name.endsWith('.css'))
if (!script || !style) throw new Error(`unexpected build outputs: ${outputs.join(', ')}`)

// Served at /favicon.svg for every page of the site (GraphiQL's too), so no page asks for a
// favicon.ico that is not there.
copyFileSync('src/favicon.svg', `${outdir}favicon.svg`)

writeFileSync(
  `${outdir}index.html`,
  `<!doctype html>
<html lang="en">
  <head>
    <meta charset="utf-8">
    <meta name="viewport" content="width=device-width, initial-scale=1">
    <title>Streamify</title>
    <link rel="icon" href="/favicon.svg" type="image/svg+xml">
    <link rel="stylesheet" href="/app/${style}">
    <script type="module" src="/app/${script}"></script>
  </head>
  <body>
    <a class="skip-link" href="#main">Skip to content</a>
    <header id="site-header"></header>
    <main id="main" tabindex="-1"><p>Loading Streamify…</p></main>
    <div id="announcer" class="visually-hidden" role="status" aria-live="polite"></div>
    <noscript>Streamify's web app needs JavaScript; the API is at /graphql.</noscript>
  </body>
</html>
`,
)
