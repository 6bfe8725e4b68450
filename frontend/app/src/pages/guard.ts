import { h } from '../dom'
import { viewer, type SignedIn } from '../session'

/** The signed-in viewer, or a prompt to log in rendered into `main`. */
export function requireViewer(main: HTMLElement, what: string): SignedIn | null {
  const who = viewer()
  if (who) return who
  const next = encodeURIComponent(window.location.pathname)
  main.append(
    h('h1', {}, 'Log in'),
    h('p', {}, `Log in to ${what}. `, h('a', { href: `/login?next=${next}` }, 'Log in'), ' or ', h('a', { href: `/signup?next=${next}` }, 'sign up'), '.'),
  )
  return null
}
