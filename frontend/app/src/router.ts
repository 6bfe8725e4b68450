// History routing: every path the app shows is a real URL the API answers with this app.
export interface Page {
  /** Renders into `main`; the returned function (if any) is called when the page is left. */
  render: (main: HTMLElement, params: Record<string, string>) => Promise<(() => void) | void>
}

interface Route {
  pattern: RegExp
  names: string[]
  page: Page
}

const routes: Route[] = []
let leave: (() => void) | void = undefined
let renderCount = 0

export function route(path: string, page: Page): void {
  const names: string[] = []
  const source = path.replace(/:([a-zA-Z]+)/g, (_, name: string) => {
    names.push(name)
    return '([^/]+)'
  })
  routes.push({ pattern: new RegExp(`^${source}$`), names, page })
}

export function navigate(to: string, { replace = false } = {}): void {
  if (replace) window.history.replaceState(null, '', to)
  else window.history.pushState(null, '', to)
  void render()
}

export async function render(): Promise<void> {
  const main = document.getElementById('main')
  if (!main) return
  const path = window.location.pathname
  const ticket = ++renderCount
  if (leave) leave()
  leave = undefined
  for (const candidate of routes) {
    const match = candidate.pattern.exec(path)
    if (!match) continue
    const params = Object.fromEntries(candidate.names.map((name, i) => [name, decodeURIComponent(match[i + 1] ?? '')]))
    main.replaceChildren()
    const cleanup = await candidate.page.render(main, params)
    if (ticket !== renderCount) {
      if (cleanup) cleanup() // another navigation happened meanwhile
      return
    }
    leave = cleanup
    const heading = main.querySelector('h1')
    document.title = heading?.textContent ? `${heading.textContent} · Streamify` : 'Streamify'
    // After a navigation, focus moves to the new content (as a page load would start it);
    // on the first load it stays at the top, where the skip link is.
    if (ticket > 1) main.focus({ preventScroll: true })
    return
  }
  main.replaceChildren()
  const heading = document.createElement('h1')
  heading.textContent = 'Page not found'
  main.append(heading)
  document.title = 'Page not found · Streamify'
}

/** Same-origin links navigate without a reload. */
export function interceptLinks(): void {
  document.addEventListener('click', (event) => {
    if (event.defaultPrevented || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return
    const link = (event.target as Element | null)?.closest('a')
    if (!link || link.target || link.hasAttribute('download')) return
    const url = new URL(link.href, window.location.href)
    if (url.origin !== window.location.origin || url.pathname.startsWith('/graphql')) return
    if (url.hash && url.pathname === window.location.pathname) return
    event.preventDefault()
    navigate(url.pathname + url.search)
  })
  window.addEventListener('popstate', () => void render())
}
