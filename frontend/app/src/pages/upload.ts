// Stock Uppy: the Dashboard, the AwsS3 plugin in multipart mode against the API's own /s3/
// routes (the session cookie authenticates them), Golden Retriever to resume after a reload
// (files up to 10 MiB come back by themselves; a bigger one asks to be picked again, then
// only its missing parts are sent). Title, description and visibility travel as the file's
// metadata, which the API's createMultipartUpload route reads.
import AwsS3 from '@uppy/aws-s3'
import Uppy, { type UppyFile } from '@uppy/core'
import Dashboard from '@uppy/dashboard'
import GoldenRetriever from '@uppy/golden-retriever'
import { UploadedVideo } from '../../generated/operations'
import { announce, h } from '../dom'
import { request } from '../graphql'
import { navigate, type Page } from '../router'
import { requireViewer } from './guard'

type Meta = {
  title?: string
  description?: string
  visibility?: string
  // The file's size: the API binds every part URL to its exact length.
  size?: number
  name: string
  type: string
}
type File = UppyFile<Meta, Record<string, never>>

function stem(name: string): string {
  return name.replace(/\.[^.]+$/, '') || name
}

function uploadIdOf(uppy: Uppy<Meta, Record<string, never>>, file: File): string | undefined {
  const state = uppy.getFile(file.id) as (File & { s3Multipart?: { uploadId?: string } }) | undefined
  return state?.s3Multipart?.uploadId
}

export const uploadPage: Page = {
  async render(main) {
    if (!requireViewer(main, 'upload videos')) return

    const title = h('input', { id: 'upload-title', name: 'title', maxlength: 200, 'aria-describedby': 'upload-title-hint' })
    const description = h('textarea', { id: 'upload-description', name: 'description', rows: 3, maxlength: 5000 })
    const visibility = h(
      'select',
      { id: 'upload-visibility', name: 'visibility' },
      h('option', { value: 'PUBLIC' }, 'Public: in the feed'),
      h('option', { value: 'UNLISTED' }, 'Unlisted: anyone with the link'),
      h('option', { value: 'PRIVATE' }, 'Private: only me'),
    )
    const target = h('div', { id: 'uppy-dashboard' })
    const done = h('ul', { class: 'uploaded', 'aria-label': 'Uploaded videos' })
    main.append(
      h('h1', {}, 'Upload a video'),
      h(
        'div',
        { class: 'upload-layout' },
        h(
        'form',
        { class: 'card', onsubmit: (event: Event) => event.preventDefault() },
        h('div', { class: 'field' }, h('label', { for: 'upload-title' }, 'Title'), title, h('p', { class: 'hint', id: 'upload-title-hint' }, "Leave empty to use the file's name.")),
        h('div', { class: 'field' }, h('label', { for: 'upload-description' }, 'Description'), description),
        h('div', { class: 'field' }, h('label', { for: 'upload-visibility' }, 'Visibility'), visibility),
        ),
        target,
      ),
      done,
    )

    const uppy = new Uppy<Meta, Record<string, never>>({
      id: 'streamify-upload',
      restrictions: { allowedFileTypes: ['video/*'], maxFileSize: 20 * 1024 ** 3 },
      onBeforeUpload: (files) => {
        const single = Object.keys(files).length === 1
        for (const file of Object.values(files)) {
          if (file.meta.visibility) continue // restored after a reload: already created
          file.meta = {
            ...file.meta,
            title: (single && title.value.trim()) || stem(file.name ?? 'video'),
            description: description.value,
            visibility: visibility.value,
            size: file.size ?? undefined,
          }
        }
        return files
      },
    })
      .use(Dashboard, {
        target,
        inline: true,
        width: '100%',
        height: 380,
        proudlyDisplayPoweredByUppy: false,
        note: 'Video files up to 20 GiB. Uploads pause, resume and survive a reload.',
      })
      .use(AwsS3, { companionEndpoint: window.location.origin, shouldUseMultipart: true })
      .use(GoldenRetriever, { serviceWorker: false })

    const uploadIds = new Map<string, string>()
    uppy.on('upload-progress', (file) => {
      if (!file) return
      const id = uploadIdOf(uppy, file)
      if (id) uploadIds.set(file.id, id)
    })
    uppy.on('s3-multipart:part-uploaded' as never, ((file: File) => {
      const id = uploadIdOf(uppy, file)
      if (id) uploadIds.set(file.id, id)
    }) as never)

    uppy.on('complete', async (result) => {
      const videos: { id: string; title: string }[] = []
      for (const file of result.successful ?? []) {
        const uploadId = uploadIds.get(file.id)
        if (!uploadId) continue
        const found = await request(UploadedVideo, { uploadId })
        if (found.upload.video) videos.push({ id: found.upload.video.id, title: file.meta.title ?? file.name ?? 'video' })
      }
      for (const video of videos) {
        done.append(h('li', {}, h('a', { href: `/videos/${video.id}/processing` }, `${video.title}: follow its processing`)))
      }
      announce(`${videos.length} upload(s) finished`)
      const [only] = videos
      if (videos.length === 1 && only && (result.failed ?? []).length === 0) {
        uppy.clear()
        navigate(`/videos/${only.id}/processing`)
      }
    })

    return () => uppy.destroy()
  },
}
