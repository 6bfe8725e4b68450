// A stock dash.js player: plays an MPD URL and reports what it played: the time reached, the
// video representations, the audio and text tracks it was offered, and with `text` (a
// language tag) the cue texts of that text track, shown.
import * as dashjs from 'dashjs'

window.playDash = function playDash(url, { seconds = 1.5, timeoutMs = 60000, text = null } = {}) {
  return new Promise((resolve, reject) => {
    const video = document.createElement('video')
    video.muted = true
    document.body.appendChild(video)
    const player = dashjs.MediaPlayer().create()
    const timer = setTimeout(() => reject(new Error(`no playback of ${url} in time`)), timeoutMs)
    player.on(dashjs.MediaPlayer.events.ERROR, (event) => {
      clearTimeout(timer)
      const error = event.error || {}
      reject(new Error(`dash.js: ${error.code} ${error.message}`))
    })
    const shown = []
    const textShown = () => {
      if (text === null) return true
      const track = Array.from(video.textTracks).find((t) => t.language === text && t.mode === 'showing')
      if (!track) return false
      for (const cue of Array.from(track.cues || [])) if (!shown.includes(cue.text)) shown.push(cue.text)
      return shown.length > 0
    }
    player.on(dashjs.MediaPlayer.events.STREAM_INITIALIZED, () => {
      if (text === null) return
      const index = player.getTracksFor('text').findIndex((t) => t.lang === text)
      player.enableText(true)
      player.setTextTrack(index)
    })
    video.addEventListener('timeupdate', () => {
      if (video.currentTime >= seconds && textShown()) {
        clearTimeout(timer)
        resolve({
          currentTime: video.currentTime,
          videoRepresentations: player.getRepresentationsByType('video').length,
          audioTracks: player.getTracksFor('audio').length,
          textTracks: player.getTracksFor('text').map((t) => t.lang),
          cueTexts: shown,
        })
      }
    })
    player.initialize(video, url, true)
  })
}
