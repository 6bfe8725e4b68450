// One video: the player, what it is, and for its owner the metadata editor, captions and delete.
import { AddCaption, DeleteVideo, RemoveCaption, UpdateVideo, Watch, type WatchableFragment } from '../../generated/operations'
import { alertBox, announce, h } from '../dom'
import { count, date, duration, statusWord } from '../format'
import { ApiError, request } from '../graphql'
import { createPlayer, type Player, type PlayerSource } from '../player/player'
import { navigate, type Page } from '../router'
import { viewer } from '../session'
import { statsCard } from './stats'

// Ask for fresh URLs this long before signed ones expire.
const REFRESH_MARGIN_MS = 60_000
// How long "Saved." and the like stay: a message belongs to its moment.
const SUCCESS_SHOWN_MS = 6_000

/** A success message in `box`, gone after a few seconds or at the page's next save. */
function succeeded(box: HTMLElement, text: string): void {
  for (const old of document.querySelectorAll('.success')) old.remove()
  const message = h('p', { class: 'success' }, text)
  box.replaceChildren(message)
  window.setTimeout(() => message.remove(), SUCCESS_SHOWN_MS)
}

function sourceOf(video: WatchableFragment): PlayerSource | null {
  if (!video.manifest) return null
  return {
    videoId: video.id,
    manifestUrl: video.manifest.url,
    posterUrl: video.thumbnailUrl,
    storyboardVttUrl: video.storyboard?.vttUrl ?? null,
    renditions: video.renditions,
    duration: video.duration,
    title: video.title,
  }
}

function details(video: WatchableFragment): HTMLElement {
  return h(
    'section',
    { class: 'details', 'aria-label': 'About this video' },
    h('h1', {}, video.title),
    h(
      'p',
      { class: 'meta' },
      h('span', {}, video.owner?.displayName ?? ''),
      h('span', { class: 'views' }, count(video.stats.views, 'view', 'views')),
      h('span', {}, date(video.createdAt)),
      h('span', {}, duration(video.duration)),
      video.visibility !== 'PUBLIC' ? h('span', { class: 'badge' }, video.visibility) : null,
    ),
    video.description ? h('p', { class: 'description' }, video.description) : null,
    video.tags.length ? h('ul', { class: 'tags', 'aria-label': 'Tags' }, ...video.tags.map((tag) => h('li', {}, tag))) : null,
  )
}

function editor(video: WatchableFragment, saved: (video: WatchableFragment) => void): HTMLElement {
  const title = h('input', { id: 'edit-title', name: 'title', required: true, maxlength: 200, value: video.title })
  const description = h('textarea', { id: 'edit-description', name: 'description', rows: 4, maxlength: 5000 }, video.description)
  const tags = h('input', { id: 'edit-tags', name: 'tags', value: video.tags.join(', '), 'aria-describedby': 'edit-tags-hint' })
  const visibility = h(
    'select',
    { id: 'edit-visibility', name: 'visibility' },
    ...(['PUBLIC', 'UNLISTED', 'PRIVATE'] as const).map((value) => h('option', { value, selected: value === video.visibility }, value[0] + value.slice(1).toLowerCase())),
  )
  const feedback = h('div', { 'aria-live': 'polite' })
  const save = h('button', { type: 'submit' }, 'Save')
  const remove = h('button', { type: 'button', class: 'danger' }, 'Delete video')
  const form = h(
    'form',
    { class: 'card editor', 'aria-labelledby': 'edit-heading' },
    h('h2', { id: 'edit-heading' }, 'Edit'),
    h('div', { class: 'field' }, h('label', { for: 'edit-title' }, 'Title'), title),
    h('div', { class: 'field' }, h('label', { for: 'edit-description' }, 'Description'), description),
    h('div', { class: 'field' }, h('label', { for: 'edit-tags' }, 'Tags'), tags, h('p', { class: 'hint', id: 'edit-tags-hint' }, 'Separated by commas.')),
    h('div', { class: 'field' }, h('label', { for: 'edit-visibility' }, 'Visibility'), visibility),
    feedback,
    h('div', { class: 'actions' }, save, remove),
  )
  form.addEventListener('submit', async (event) => {
    event.preventDefault()
    save.disabled = true
    feedback.replaceChildren()
    try {
      const { updateVideo } = await request(UpdateVideo, {
        id: video.id,
        input: {
          title: title.value,
          description: description.value,
          tags: tags.value.split(',').map((tag) => tag.trim()).filter(Boolean),
          visibility: visibility.value as WatchableFragment['visibility'],
        },
      })
      succeeded(feedback, 'Saved.')
      announce('Saved')
      saved(updateVideo)
    } catch (error) {
      feedback.replaceChildren(alertBox(error instanceof ApiError ? error.message : 'Could not save.'))
    } finally {
      save.disabled = false
    }
  })
  remove.addEventListener('click', async () => {
    if (!window.confirm(`Delete “${video.title}” and all its media? This cannot be undone.`)) return
    try {
      await request(DeleteVideo, { id: video.id })
      announce('Deleted')
      navigate('/library')
    } catch (error) {
      feedback.replaceChildren(alertBox(error instanceof ApiError ? error.message : 'Could not delete.'))
    }
  })
  return form
}

// The server checks the same (512 KiB of UTF-8); checked here first to say so at once.
const MAX_CAPTION_BYTES = 512 * 1024

function captionEditor(video: WatchableFragment, changed: () => Promise<void>): HTMLFormElement & { show: (items: WatchableFragment['captions']) => void } {
  const list = h('ul', { class: 'caption-list', 'aria-label': 'Captions of this video' })
  const file = h('input', { type: 'file', id: 'caption-file', name: 'caption', accept: '.vtt,.srt,text/vtt', required: true, 'aria-describedby': 'caption-file-hint' })
  const language = h('input', { id: 'caption-language', name: 'language', required: true, maxlength: 35, placeholder: 'en', 'aria-describedby': 'caption-language-hint' })
  const label = h('input', { id: 'caption-label', name: 'label', required: true, maxlength: 64, placeholder: 'English' })
  const feedback = h('div', { 'aria-live': 'polite' })
  const add = h('button', { type: 'submit' }, 'Add caption')

  function show(items: WatchableFragment['captions']): void {
    list.replaceChildren(
      ...items.map((caption) => {
        const remove = h('button', { type: 'button', class: 'link-button', 'aria-label': `Remove the ${caption.label} caption` }, 'Remove')
        remove.addEventListener('click', async () => {
          remove.disabled = true
          try {
            await request(RemoveCaption, { videoId: video.id, language: caption.language })
            announce(`Removed the ${caption.label} caption`)
            await changed()
          } catch (error) {
            feedback.replaceChildren(alertBox(error instanceof ApiError ? error.message : 'Could not remove the caption.'))
            remove.disabled = false
          }
        })
        return h('li', { 'data-language': caption.language }, h('span', {}, `${caption.label} (${caption.language})`), remove)
      }),
    )
    if (!items.length) list.append(h('li', { class: 'hint' }, 'No captions yet.'))
  }
  show(video.captions)

  const form = h(
    'form',
    { class: 'card editor', id: 'captions-editor', 'aria-labelledby': 'captions-heading' },
    h('h2', { id: 'captions-heading' }, 'Closed captions'),
    list,
    h('div', { class: 'field' }, h('label', { for: 'caption-file' }, 'Caption file'), file, h('p', { class: 'hint', id: 'caption-file-hint' }, 'WebVTT or SRT, UTF-8, at most 512 KiB.')),
    h('div', { class: 'field' }, h('label', { for: 'caption-language' }, 'Language'), language, h('p', { class: 'hint', id: 'caption-language-hint' }, 'A language tag: en, fr, pt-BR… A second caption in a language replaces the first.')),
    h('div', { class: 'field' }, h('label', { for: 'caption-label' }, 'Label'), label),
    feedback,
    h('div', { class: 'actions' }, add),
  )
  form.addEventListener('submit', async (event) => {
    event.preventDefault()
    feedback.replaceChildren()
    const chosen = file.files?.[0]
    if (!chosen) return
    if (chosen.size > MAX_CAPTION_BYTES) {
      feedback.replaceChildren(alertBox(`${chosen.name} is ${Math.ceil(chosen.size / 1024)} KiB; a caption file is at most 512 KiB.`))
      return
    }
    add.disabled = true
    try {
      const content = new TextDecoder('utf-8').decode(await chosen.arrayBuffer())
      const { addCaption } = await request(AddCaption, { input: { videoId: video.id, language: language.value, label: label.value, content } })
      succeeded(feedback, `Added: ${addCaption.label} (${addCaption.language}).`)
      announce('Caption added')
      form.reset()
      await changed()
    } catch (error) {
      feedback.replaceChildren(alertBox(error instanceof ApiError ? error.message : 'Could not add the caption.'))
    } finally {
      add.disabled = false
    }
  })
  return Object.assign(form, { show })
}

export const watchPage: Page = {
  async render(main, { id }) {
    let video: WatchableFragment | null | undefined
    try {
      video = (await request(Watch, { id: id ?? '' })).video
    } catch (error) {
      main.append(h('h1', {}, 'Could not load the video'), alertBox(error instanceof ApiError ? error.message : 'Try again later.'))
      return
    }
    if (!video) {
      // The same answer for everyone (whether it exists is nobody else's business), but a
      // signed-out owner of a private video gets the way in.
      const signIn = viewer()
        ? null
        : h('p', {}, 'Is it yours? ', h('a', { href: `/login?next=${encodeURIComponent(window.location.pathname)}` }, 'Log in'), ' to see it.')
      main.append(h('h1', {}, 'Video not found'), h('p', {}, 'It does not exist, or it is not yours to see.'), signIn ?? '')
      return
    }
    const mine = viewer()?.id === video.owner?.id
    if (!video.playable || !video.manifest) {
      main.append(details(video), h('p', {}, `This video is not playable yet: ${statusWord(video.status).toLowerCase()}. `, mine ? h('a', { href: `/videos/${video.id}/processing` }, 'Follow its processing') : null))
      return
    }

    const source = sourceOf(video)
    const player: Player | null = source ? createPlayer(source) : null
    let playing = source?.manifestUrl
    let about = details(video)
    if (video.status === 'PROCESSING') {
      // Playable before READY: the first qualities play; the rest join the manifest as they finish.
      main.append(h('p', { class: 'hint', id: 'still-processing' }, 'Still processing: higher qualities are on their way.'))
    }
    const layout = h('div', { class: 'watch' }, h('div', { class: 'stage' }, player?.element ?? null, about))
    main.append(layout)

    let refresh: number | undefined
    function scheduleRefresh(current: WatchableFragment): void {
      window.clearTimeout(refresh)
      const expires = current.manifest?.expiresAt ? Date.parse(current.manifest.expiresAt) : NaN
      if (Number.isNaN(expires)) return
      refresh = window.setTimeout(async () => {
        const fresh = (await request(Watch, { id: current.id }).catch(() => null))?.video
        const next = fresh ? sourceOf(fresh) : null
        if (fresh && next) {
          player?.replaceSource(next)
          playing = next.manifestUrl
          scheduleRefresh(fresh)
        }
      }, Math.max(5_000, expires - Date.now() - REFRESH_MARGIN_MS))
    }
    scheduleRefresh(video)

    let stats: ReturnType<typeof statsCard> | undefined
    if (mine) {
      stats = statsCard(video.id)
      layout.append(stats.element)
      layout.append(
        editor(video, (updated) => {
          const next = sourceOf(updated)
          // A visibility change moves the media: its URLs change with it.
          if (next && next.manifestUrl !== playing) {
            player?.replaceSource(next)
            playing = next.manifestUrl
          }
          const fresh = details(updated)
          about.replaceWith(fresh)
          about = fresh
          scheduleRefresh(updated)
        }),
      )
      const captions = captionEditor(video, async () => {
        const fresh = (await request(Watch, { id: id ?? '' })).video
        if (!fresh) return
        captions.show(fresh.captions)
        // The master now names the captions as they are: the player reads it again.
        const next = sourceOf(fresh)
        if (next) {
          player?.replaceSource(next)
          playing = next.manifestUrl
        }
      })
      layout.append(captions)
    }
    return () => {
      window.clearTimeout(refresh)
      stats?.stop()
      player?.destroy()
    }
  },
}
