// The watch page's player: hls.js (or the browser's own HLS), automatic quality with a
// manual menu built from the renditions, and a seek bar that previews storyboard tiles.
import Hls from 'hls.js'
import { h } from '../dom'
import { bitrate, duration as clock } from '../format'
import { playbackBeacons } from './beacons'
import { loadStoryboard, tileAt, type Tile } from './storyboard'

export interface Rendition {
  height: number
  width: number
  bitrate: number
}

export interface PlayerSource {
  videoId: string
  manifestUrl: string
  posterUrl: string | null
  storyboardVttUrl: string | null
  renditions: Rendition[]
  duration: number | null
  title: string
}

export interface Player {
  element: HTMLElement
  /** Same video, new URLs (a signed URL about to expire): playback goes on where it was. */
  replaceSource: (source: PlayerSource) => void
  destroy: () => void
}

// Icons as SVG paths: the page must not depend on a font having emoji.
const SPEAKER = 'M3 9h4l5-4v14l-5-4H3z M15 9a4 4 0 0 1 0 6 M17.5 6.5a7.5 7.5 0 0 1 0 11'
const SPEAKER_OFF = 'M3 9h4l5-4v14l-5-4H3z M16 9l5 6 M21 9l-5 6'
const CORNERS = 'M3 9V3h6 M15 3h6v6 M21 15v6h-6 M9 21H3v-6'

function icon(path: string): SVGSVGElement {
  const namespace = 'http://www.w3.org/2000/svg'
  const svg = document.createElementNS(namespace, 'svg')
  svg.setAttribute('viewBox', '0 0 24 24')
  svg.setAttribute('width', '20')
  svg.setAttribute('height', '20')
  svg.setAttribute('aria-hidden', 'true')
  const shape = document.createElementNS(namespace, 'path')
  shape.setAttribute('d', path)
  shape.setAttribute('fill', 'none')
  shape.setAttribute('stroke', 'currentColor')
  shape.setAttribute('stroke-width', '2')
  shape.setAttribute('stroke-linejoin', 'round')
  svg.append(shape)
  return svg
}

export function createPlayer(source: PlayerSource): Player {
  const video = h('video', { playsinline: true, preload: 'metadata', 'aria-label': source.title })
  if (source.posterUrl) video.poster = source.posterUrl
  const play = h('button', { type: 'button', class: 'play', 'aria-label': 'Play' }, '▶')
  const seek = h('input', { type: 'range', class: 'seek', min: 0, max: source.duration ?? 0, step: 0.1, value: 0, 'aria-label': 'Seek' })
  const time = h('span', { class: 'time', 'aria-live': 'off' }, `0:00 / ${clock(source.duration)}`)
  const preview = h('div', { class: 'storyboard-preview', hidden: true, 'aria-hidden': 'true' }, h('div', { class: 'tile' }), h('span', { class: 'tile-time' }))
  const quality = h('select', { class: 'quality', id: 'quality', 'aria-label': 'Quality' }, h('option', { value: '-1' }, 'Auto'))
  // The master's subtitles renditions (the video's captions), "Off" first.
  const captions = h('select', { class: 'captions', id: 'captions', 'aria-label': 'Captions', hidden: true }, h('option', { value: '-1' }, 'Captions off'))
  const mute = h('button', { type: 'button', 'aria-label': 'Mute', 'aria-pressed': 'false' }, icon(SPEAKER))
  const fullscreen = h('button', { type: 'button', 'aria-label': 'Full screen' }, icon(CORNERS))
  const bar = h('div', { class: 'controls' }, play, h('div', { class: 'seek-wrap' }, seek, preview), time, captions, quality, mute, fullscreen)
  const element = h('div', { class: 'player', 'data-level-height': '', tabindex: -1 }, video, bar)

  let hls: Hls | undefined
  let tiles: Tile[] = []
  // The viewer's choices, kept across a new source (signed URLs renewed, a caption added, a
  // visibility change): a quality by its height (null: automatic) and captions by language
  // ('': off). Events of an instance already replaced never touch them.
  let chosenHeight: number | null = null
  let chosenCaptions = ''
  const beacons = playbackBeacons(video, source.videoId)
  let renditions = [...source.renditions].sort((a, b) => b.height - a.height)
  let lengthSeconds = source.duration ?? 0

  function qualityOptions(levels: { height: number }[]): void {
    const options = [h('option', { value: '-1' }, 'Auto')]
    for (const rendition of renditions) {
      const index = levels.findIndex((level) => level.height === rendition.height)
      if (index < 0) continue
      options.push(h('option', { value: String(index) }, `${rendition.height}p (${bitrate(rendition.bitrate)})`))
    }
    quality.replaceChildren(...options)
  }

  // play() answers with a promise that a new source or a pause rejects (AbortError), and that
  // the browser's autoplay policy refuses (NotAllowedError): neither is a failure, the button
  // simply stays on ▶. Anything else is shown like any other playback error.
  function start(): void {
    beacons.playRequested()
    video.play().catch((error: unknown) => {
      if (error instanceof DOMException && (error.name === 'AbortError' || error.name === 'NotAllowedError')) return
      element.dataset.error = error instanceof Error ? error.message : String(error)
    })
  }

  function levelSwitched(height: number): void {
    element.dataset.levelHeight = String(height)
    const auto = quality.options[0]
    if (auto) auto.textContent = hls && hls.autoLevelEnabled ? `Auto (${height}p)` : 'Auto'
  }

  function attach(url: string, resumeAt: number, resume: boolean): void {
    const previous = hls
    hls = undefined
    previous?.destroy()
    if (Hls.isSupported()) {
      const instance = new Hls({ capLevelToPlayerSize: false })
      hls = instance
      instance.on(Hls.Events.MANIFEST_PARSED, (_, data) => {
        qualityOptions(data.levels)
        const kept = chosenHeight === null ? -1 : data.levels.findIndex((level) => level.height === chosenHeight)
        if (kept >= 0) {
          instance.currentLevel = kept
          quality.value = String(kept)
        }
        if (resumeAt > 0) video.currentTime = resumeAt
        if (resume) start()
      })
      instance.on(Hls.Events.LEVEL_SWITCHED, (_, data) => {
        if (instance !== hls) return
        const level = instance.levels[data.level]
        if (level) {
          levelSwitched(level.height)
          beacons.renditionChanged(level.height)
        }
      })
      instance.on(Hls.Events.SUBTITLE_TRACKS_UPDATED, (_, data) => {
        if (instance !== hls) return
        const tracks = data.subtitleTracks
        const chosen = chosenCaptions
        captions.replaceChildren(
          h('option', { value: '-1' }, 'Captions off'),
          ...tracks.map((track, index) => h('option', { value: String(index), lang: track.lang ?? '', selected: track.lang === chosen }, track.name)),
        )
        captions.hidden = tracks.length === 0
        const keep = tracks.findIndex((track) => track.lang === chosen)
        instance.subtitleTrack = keep
        instance.subtitleDisplay = keep >= 0
      })
      instance.on(Hls.Events.SUBTITLE_TRACK_SWITCH, (_, data) => {
        if (instance !== hls) return
        element.dataset.captions = data.id >= 0 ? (instance.subtitleTracks[data.id]?.lang ?? '') : ''
      })
      instance.on(Hls.Events.ERROR, (_, data) => {
        if (data.fatal) {
          element.dataset.error = `${data.type}: ${data.details}`
          beacons.failed()
        }
      })
      instance.loadSource(url)
      instance.attachMedia(video)
    } else if (video.canPlayType('application/vnd.apple.mpegurl')) {
      video.src = url // Safari: quality stays automatic
      quality.disabled = true
      if (resumeAt > 0) video.currentTime = resumeAt
      if (resume) start()
    } else {
      element.dataset.error = 'This browser cannot play HLS.'
    }
  }

  function showPreview(at: number, fraction: number): void {
    const tile = tileAt(tiles, at)
    if (!tile) return
    const box = preview.querySelector<HTMLElement>('.tile')
    const label = preview.querySelector<HTMLElement>('.tile-time')
    if (!box || !label) return
    box.style.width = `${tile.width}px`
    box.style.height = `${tile.height}px`
    box.style.backgroundImage = `url("${tile.image}")`
    box.style.backgroundPosition = `-${tile.x}px -${tile.y}px`
    label.textContent = clock(at)
    preview.style.left = `${Math.min(100, Math.max(0, fraction * 100))}%`
    preview.dataset.time = at.toFixed(1)
    preview.hidden = false
  }

  function fractionAt(event: PointerEvent): number {
    const box = seek.getBoundingClientRect()
    return box.width > 0 ? (event.clientX - box.left) / box.width : 0
  }

  seek.addEventListener('pointermove', (event) => {
    const fraction = Math.min(1, Math.max(0, fractionAt(event)))
    showPreview(fraction * lengthSeconds, fraction)
  })
  seek.addEventListener('pointerleave', () => {
    preview.hidden = true
  })
  seek.addEventListener('input', () => {
    const at = Number(seek.value)
    if (document.activeElement === seek) showPreview(at, lengthSeconds > 0 ? at / lengthSeconds : 0)
    video.currentTime = at
  })
  seek.addEventListener('blur', () => {
    preview.hidden = true
  })

  play.addEventListener('click', () => {
    if (video.paused) start()
    else video.pause()
  })
  video.addEventListener('click', () => play.click())
  video.addEventListener('play', () => {
    play.textContent = '❚❚'
    play.setAttribute('aria-label', 'Pause')
  })
  video.addEventListener('pause', () => {
    play.textContent = '▶'
    play.setAttribute('aria-label', 'Play')
  })
  video.addEventListener('loadedmetadata', () => {
    if (Number.isFinite(video.duration)) {
      lengthSeconds = video.duration
      seek.max = String(video.duration)
    }
  })
  video.addEventListener('timeupdate', () => {
    if (document.activeElement !== seek) seek.value = String(video.currentTime)
    time.textContent = `${clock(video.currentTime)} / ${clock(lengthSeconds)}`
  })
  captions.addEventListener('change', () => {
    if (!hls) return
    const index = Number(captions.value)
    chosenCaptions = index >= 0 ? (hls.subtitleTracks[index]?.lang ?? '') : ''
    hls.subtitleTrack = index
    hls.subtitleDisplay = index >= 0
    element.dataset.captions = chosenCaptions
  })
  quality.addEventListener('change', () => {
    if (!hls) return
    const index = Number(quality.value)
    chosenHeight = index >= 0 ? (hls.levels[index]?.height ?? null) : null
    element.dataset.chosenHeight = chosenHeight === null ? '' : String(chosenHeight)
    hls.currentLevel = index
  })
  mute.addEventListener('click', () => {
    video.muted = !video.muted
    mute.replaceChildren(icon(video.muted ? SPEAKER_OFF : SPEAKER))
    mute.setAttribute('aria-pressed', String(video.muted))
  })
  fullscreen.addEventListener('click', () => {
    if (document.fullscreenElement) void document.exitFullscreen()
    else void element.requestFullscreen()
  })
  element.addEventListener('keydown', (event) => {
    if (event.target instanceof HTMLInputElement || event.target instanceof HTMLSelectElement) return
    if (event.key === 'k' || (event.key === ' ' && event.target === element)) {
      event.preventDefault()
      play.click()
    } else if (event.key === 'ArrowRight' || event.key === 'ArrowLeft') {
      event.preventDefault()
      video.currentTime = Math.max(0, video.currentTime + (event.key === 'ArrowRight' ? 5 : -5))
    }
  })

  function loadTiles(vttUrl: string | null): void {
    if (!vttUrl) return
    void loadStoryboard(vttUrl).then((loaded) => {
      tiles = loaded
      element.dataset.storyboardTiles = String(loaded.length)
    })
  }

  attach(source.manifestUrl, 0, false)
  loadTiles(source.storyboardVttUrl)

  return {
    element,
    replaceSource(next) {
      renditions = [...next.renditions].sort((a, b) => b.height - a.height)
      if (next.posterUrl) video.poster = next.posterUrl
      attach(next.manifestUrl, video.currentTime, !video.paused)
      loadTiles(next.storyboardVttUrl)
    },
    destroy() {
      beacons.stop()
      hls?.destroy()
      video.removeAttribute('src')
      video.load()
    },
  }
}
