/* Same-origin JSON/XML calls to the designer endpoints (session cookie + X-CSRFToken). A failed
   call rejects with an Error carrying the server's Chinese message and its `details`. */

function failure(response, body) {
  const message = (body && (body.message || body.error)) || ('服务器返回 ' + response.status);
  const err = new Error(message);
  err.status = response.status;
  err.details = (body && body.details) || [];
  return err;
}

function parse(response) {
  return response.text().then(function (text) {
    let body = null;
    try { body = text ? JSON.parse(text) : null; } catch (e) { body = null; }
    if (!response.ok) throw failure(response, body);
    return body;
  });
}

export function createServer(csrf) {
  return {
    text(url) {
      return fetch(url, { credentials: 'same-origin' }).then(function (r) {
        if (!r.ok) throw new Error('HTTP ' + r.status);
        return r.text();
      });
    },
    json(url) {
      return fetch(url, { credentials: 'same-origin', headers: { Accept: 'application/json' } }).then(parse);
    },
    send(method, url, body, type) {
      const json = type === undefined;
      return fetch(url, {
        method,
        credentials: 'same-origin',
        headers: {
          'Content-Type': json ? 'application/json' : type,
          'Accept': 'application/json',
          'X-CSRFToken': csrf || ''
        },
        body: json ? JSON.stringify(body) : body
      }).then(parse);
    }
  };
}
