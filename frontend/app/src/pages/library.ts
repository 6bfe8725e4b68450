// The public feed and the viewer's own videos (every status): cards over the Relay
// connection, the next page fetched with `after:` when the end of the list scrolls into view.
import { Feed, MyVideos, Trending, type VideoCardFragment, type VideoPageFragment } from '../../generated/operations'
import { alertBox, h } from '../dom'
import { count as counted, duration, statusWord } from '../format'
import { ApiError, request } from '../graphql'
import type { Page } from '../router'
import { requireViewer } from './guard'

const PAGE_SIZE = 24

function card(video: VideoCardFragment, mine: boolean): HTMLElement {
  const ready = video.status === 'READY'
  const href = video.playable ? `/videos/${video.id}` : `/videos/${video.id}/processing`
  const poster = video.thumbnailUrl
    ? h('img', { src: video.thumbnailUrl, alt: '', loading: 'lazy', width: 320, height: 180 })
    : h('div', { class: 'poster-placeholder', 'aria-hidden': 'true' }, video.status === 'FAILED' ? '!' : '…')
  return h(
    'li',
    { class: 'video-card', 'data-video-id': video.id, 'data-status': video.status },
    h(
      'a',
      { href },
      h('div', { class: 'poster' }, poster, ready ? h('span', { class: 'duration' }, duration(video.duration)) : null),
      h('h2', {}, video.title),
    ),
    h(
      'p',
      { class: 'meta' },
      mine ? h('span', { class: `badge status-${video.status.toLowerCase()}` }, statusWord(video.status)) : null,
      mine && video.visibility !== 'PUBLIC' ? h('span', { class: 'badge' }, video.visibility === 'PRIVATE' ? 'Private' : 'Unlisted') : null,
      mine ? null : h('span', {}, video.owner?.displayName ?? ''),
      video.playable ? h('span', { class: 'views' }, counted(video.stats.views, 'view', 'views')) : null,
    ),
    mine && video.failureReason ? h('p', { class: 'failure' }, video.failureReason) : null,
  )
}

function infiniteList(
  main: HTMLElement,
  title: string,
  empty: HTMLElement,
  fetchPage: (after: string | null) => Promise<VideoPageFragment>,
  mine: boolean,
  tabs?: HTMLElement,
): () => void {
  const list = h('ul', { class: 'video-grid', 'aria-label': title })
  const status = h('div', { class: 'list-status', 'aria-live': 'polite' })
  const more = h('button', { type: 'button', class: 'secondary' }, 'Load more')
  const sentinel = h('div', { class: 'sentinel', 'aria-hidden': 'true' })
  main.append(h('h1', {}, title), list, status, more, sentinel)
  if (tabs) main.querySelector('h1')?.after(tabs)
  more.hidden = true

  let after: string | null = null
  let done = false
  let loading = false
  let count = 0

  async function loadMore(): Promise<void> {
    if (loading || done) return
    loading = true
    more.disabled = true
    status.textContent = 'Loading…'
    try {
      const page = await fetchPage(after)
      for (const edge of page.edges) list.append(card(edge.node, mine))
      count += page.edges.length
      after = page.pageInfo.endCursor
      done = !page.pageInfo.hasNextPage
      status.textContent = done ? (count === 0 ? '' : counted(count, 'video', 'videos')) : ''
      if (count === 0) status.replaceChildren(empty)
      more.hidden = done
    } catch (error) {
      status.replaceChildren(alertBox(error instanceof ApiError ? error.message : 'Could not load videos.'))
      more.hidden = false
    } finally {
      loading = false
      more.disabled = false
    }
    // A tall screen may show the sentinel still: keep filling it.
    if (!done && sentinel.getBoundingClientRect().top < window.innerHeight + 400) void loadMore()
  }

  more.addEventListener('click', () => void loadMore())
  const observer = new IntersectionObserver((entries) => {
    if (entries.some((entry) => entry.isIntersecting)) void loadMore()
  }, { rootMargin: '400px' })
  observer.observe(sentinel)
  void loadMore()
  return () => observer.disconnect()
}

/** "Latest" and "Trending", the feed's two orders, as links (each a page of its own). */
function feedTabs(current: 'latest' | 'trending'): HTMLElement {
  const tab = (key: 'latest' | 'trending', href: string, label: string): HTMLElement =>
    h('li', {}, h('a', { href, ...(key === current ? { 'aria-current': 'page' } : {}) }, label))
  return h('nav', { class: 'tabs', 'aria-label': 'Feed' }, h('ul', {}, tab('latest', '/', 'Latest'), tab('trending', '/trending', 'Trending')))
}

export const feedPage: Page = {
  async render(main) {
    return infiniteList(
      main,
      'Latest videos',
      h('p', {}, 'No videos yet. ', h('a', { href: '/upload' }, 'Upload one'), '.'),
      async (after) => (await request(Feed, { first: PAGE_SIZE, after })).videos,
      false,
      feedTabs('latest'),
    )
  },
}

export const trendingPage: Page = {
  async render(main) {
    return infiniteList(
      main,
      'Trending',
      h('p', {}, 'Nothing is trending yet: videos trend as people watch them.'),
      async (after) => (await request(Trending, { first: PAGE_SIZE, after })).videos,
      false,
      feedTabs('trending'),
    )
  },
}

export const myVideosPage: Page = {
  async render(main) {
    const viewer = requireViewer(main, 'see your videos')
    if (!viewer) return
    return infiniteList(
      main,
      'My videos',
      h('p', {}, 'You have no videos yet. ', h('a', { href: '/upload' }, 'Upload your first'), '.'),
      async (after) => (await request(MyVideos, { ownerId: viewer.id, first: PAGE_SIZE, after })).videos,
      true,
    )
  },
}
