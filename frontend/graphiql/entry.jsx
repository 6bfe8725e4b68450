// GraphiQL for Streamify, bundled at build time: the page needs nothing from the internet.
// Queries and mutations go over HTTP, subscriptions over graphql-transport-ws (graphql-ws),
// both to this page's own /graphql; the headers editor's Authorization (if any) is sent with
// both, the websocket's in connection_init as Streamify expects.
import { createGraphiQLFetcher } from '@graphiql/toolkit'
import { GraphiQL } from 'graphiql'
import { createClient } from 'graphql-ws'
import React from 'react'
import { createRoot } from 'react-dom/client'
import 'graphiql/graphiql.css'

const url = new URL('/graphql', window.location.href)
const wsUrl = url.href.replace(/^http/, 'ws')

function authorizationOf(headers) {
  const found = Object.entries(headers || {}).find(([name]) => name.toLowerCase() === 'authorization')
  return found ? found[1] : undefined
}

let socket
let socketAuthorization

function subscriptions(headers) {
  const authorization = authorizationOf(headers)
  if (!socket || authorization !== socketAuthorization) {
    if (socket) socket.dispose()
    socketAuthorization = authorization
    socket = createClient({
      url: wsUrl,
      connectionParams: () => (authorization ? { authorization } : {}),
    })
  }
  return socket
}

const http = createGraphiQLFetcher({ url: url.href })

function fetcher(params, options) {
  const isSubscription = /^\s*subscription\b/m.test(params.query || '')
  if (!isSubscription) return http(params, options)
  const client = subscriptions(options?.headers)
  return {
    [Symbol.asyncIterator]() {
      return client.iterate(params)[Symbol.asyncIterator]()
    },
  }
}

createRoot(document.getElementById('graphiql')).render(
  React.createElement(GraphiQL, { fetcher, isHeadersEditorEnabled: true, shouldPersistHeaders: true }),
)
