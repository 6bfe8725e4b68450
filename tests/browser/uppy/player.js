// A stock hls.js player: plays a master playlist URL and reports what it played. With
// `seekTo`, once `seconds` have played it seeks there and plays on `playFor` seconds past it.
// With `subtitles` (a language tag), it shows that subtitles track and also waits for its
// cues, and reports the subtitles tracks it was offered and the cue texts it showed.
import Hls from 'hls.js'

window.playHls = function playHls(url, { seconds = 1.5, seekTo = null, playFor = 0.5, timeoutMs = 60000, subtitles = null } = {}) {
  return new Promise((resolve, reject) => {
    const video = document.createElement('video')
    video.muted = true
    document.body.appendChild(video)
    const hls = new Hls()
    const timer = setTimeout(() => reject(new Error(`no playback of ${url} in time`)), timeoutMs)
    hls.on(Hls.Events.ERROR, (_, data) => {
      if (data.fatal) {
        clearTimeout(timer)
        reject(new Error(`hls.js: ${data.type} ${data.details} ${data.response ? data.response.code : ''}`))
      }
    })
    const shown = []
    const captionsShown = () => {
      if (subtitles === null) return true
      const track = Array.from(video.textTracks).find((t) => t.language === subtitles && t.mode === 'showing')
      if (!track || !track.cues) return false
      for (const cue of Array.from(track.cues)) if (!shown.includes(cue.text)) shown.push(cue.text)
      return shown.length > 0
    }
    const report = (extra) => ({
      ...extra,
      subtitleTracks: hls.subtitleTracks.map((t) => ({ lang: t.lang, name: t.name })),
      cueTexts: shown,
    })
    hls.on(Hls.Events.SUBTITLE_TRACKS_UPDATED, (_, data) => {
      if (subtitles === null) return
      hls.subtitleTrack = data.subtitleTracks.findIndex((t) => t.lang === subtitles)
      hls.subtitleDisplay = true
    })
    hls.on(Hls.Events.MANIFEST_PARSED, (_, data) => {
      let played = null
      video.play().catch((error) => reject(error))
      video.addEventListener('timeupdate', () => {
        if (played === null && video.currentTime >= seconds && captionsShown()) {
          played = video.currentTime
          if (seekTo === null) {
            clearTimeout(timer)
            resolve(report({ currentTime: played, levels: data.levels.length }))
            return
          }
          video.currentTime = seekTo
        } else if (played !== null && seekTo !== null && video.currentTime >= seekTo + playFor) {
          clearTimeout(timer)
          resolve(report({ currentTime: played, levels: data.levels.length, afterSeek: video.currentTime }))
        }
      })
    })
    hls.loadSource(url)
    hls.attachMedia(video)
  })
}
