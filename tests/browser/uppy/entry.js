// A stock Uppy uploader pointed at the Streamify API: the AwsS3 plugin in companion mode,
// with no custom code between Uppy and the API's /s3/ routes.
import Uppy from '@uppy/core'
import AwsS3 from '@uppy/aws-s3'

async function logIn(email, password) {
  const response = await fetch('/graphql', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      query: 'mutation($e: String!, $p: String!) { logIn(email: $e, password: $p) { viewer { id } } }',
      variables: { e: email, p: password },
    }),
  })
  const body = await response.json()
  if (body.errors) throw new Error(JSON.stringify(body.errors))
}

// The same bytes the test computes: byte i is (i * 31 + 7) % 251.
function pattern(size) {
  const bytes = new Uint8Array(size)
  for (let i = 0; i < size; i++) bytes[i] = (i * 31 + 7) % 251
  return bytes
}

// From another origin Uppy's requests carry no cookies and Uppy has no headers option: the
// README's recipe wraps fetch so the API's /s3/ routes get the bearer token.
function sendTokenTo(api, token) {
  const plainFetch = window.fetch.bind(window)
  window.fetch = (input, init = {}) => {
    const url = typeof input === 'string' ? input : input.url
    if (url.startsWith(`${api}/s3/`)) {
      init = { ...init, headers: { ...init.headers, authorization: `Bearer ${token}` } }
    }
    return plainFetch(input, init)
  }
}

window.runUpload = async function runUpload({ email, password, size, api, token }) {
  if (token) {
    sendTokenTo(api, token)
  } else {
    await logIn(email, password)
  }
  const uppy = new Uppy().use(AwsS3, {
    companionEndpoint: api || window.location.origin,
    shouldUseMultipart: true,
  })
  // The API binds every part URL to its exact length, so it needs the file's size.
  uppy.on('file-added', (file) => uppy.setFileMeta(file.id, { size: file.size }))
  uppy.addFile({
    name: 'holiday.mp4',
    type: 'video/mp4',
    data: new Blob([pattern(size)], { type: 'video/mp4' }),
  })
  const result = await uppy.upload()
  return {
    successful: result.successful.length,
    failed: result.failed.map((file) => String(file.error)),
    uploadURL: result.successful[0]?.uploadURL ?? null,
  }
}
