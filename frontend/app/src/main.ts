import '@uppy/core/css/style.min.css'
import '@uppy/dashboard/css/style.min.css'
import './styles.css'
import { h } from './dom'
import { logInPage, signUpPage } from './pages/auth'
import { feedPage, myVideosPage, trendingPage } from './pages/library'
import { processingPage } from './pages/processing'
import { uploadPage } from './pages/upload'
import { watchPage } from './pages/watch'
import { interceptLinks, navigate, render, route } from './router'
import { loadViewer, logOut, onViewerChange, type SignedIn } from './session'

function header(viewer: SignedIn | null): void {
  const bar = document.getElementById('site-header')
  if (!bar) return
  const links = viewer
    ? [
        h('li', {}, h('a', { href: '/' }, 'Feed')),
        h('li', {}, h('a', { href: '/library' }, 'My videos')),
        h('li', {}, h('a', { href: '/upload' }, 'Upload')),
        h('li', { class: 'who' }, h('span', {}, viewer.displayName)),
        h(
          'li',
          {},
          h(
            'button',
            {
              type: 'button',
              class: 'link-button',
              onclick: async () => {
                await logOut()
                navigate('/login')
              },
            },
            'Log out',
          ),
        ),
      ]
    : [
        h('li', {}, h('a', { href: '/' }, 'Feed')),
        h('li', {}, h('a', { href: '/login' }, 'Log in')),
        h('li', {}, h('a', { href: '/signup' }, 'Sign up')),
      ]
  bar.replaceChildren(
    h('a', { class: 'brand', href: '/' }, 'Streamify'),
    h('nav', { 'aria-label': 'Main' }, h('ul', {}, ...links)),
  )
}

route('/', feedPage)
route('/trending', trendingPage)
route('/login', logInPage)
route('/signup', signUpPage)
route('/library', myVideosPage)
route('/upload', uploadPage)
route('/videos/:id', watchPage)
route('/videos/:id/processing', processingPage)

onViewerChange(header)
interceptLinks()
header(null)
try {
  await loadViewer()
} catch {
  // The API is unreachable: pages say so when they load their own data.
}
await render()
