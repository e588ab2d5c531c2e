/* 表单编辑 (/designer/<key>/forms/<form_key>): a form's JSON Schema edited as a list of fields
   (字段名, 标题, 类型, 必填, 选项) or, for experts, as JSON; the preview beside it is drawn by the
   server with the task page's own code (htmx posts the schema, the answer replaces #fd-preview);
   保存到草稿 PUTs it to the draft (422: the server's Chinese problems, shown on their rows).
   A field keeps every keyword the list does not edit (说明, 长度, x-… ), so editing a title
   never loses the rest. Serialised by hand so that two fields named alike reach the server,
   which refuses them by name. */
(function () {
  'use strict';

  var config = JSON.parse(document.getElementById('fd-config').textContent);
  var KIND_LABELS = {};
  config.kinds.forEach(function (k) { KIND_LABELS[k[0]] = k[1]; });
  var els = {
    rows: document.getElementById('fd-rows'),
    title: document.getElementById('fd-title'),
    heading: document.getElementById('fd-heading'),
    json: document.getElementById('fd-json-text'),
    jsonError: document.getElementById('fd-json-error'),
    errors: document.getElementById('fd-errors'),
    status: document.getElementById('fd-status'),
    source: document.getElementById('fd-source'),
    preview: document.getElementById('fd-preview'),
    save: document.getElementById('fd-save'),
    reset: document.getElementById('fd-reset'),
    tabFields: document.getElementById('tab-fields'),
    tabJson: document.getElementById('tab-json'),
    paneFields: document.getElementById('fd-fields'),
    paneJson: document.getElementById('fd-json')
  };
  var state = { schema: {}, fields: [], mode: 'fields', dirty: false, timer: null };

  function clone(v) { return JSON.parse(JSON.stringify(v)); }

  /* ----- a field's 类型 ------------------------------------------------------------------- */

  function kindOf(p) {
    if (!p || typeof p !== 'object' || Array.isArray(p)) return 'other';
    if (p['x-group-prefix'] || p['x-choices-setting'] || p.contentMediaType) return 'other';
    if (p.type === 'string') {
      if (Array.isArray(p.enum)) return 'choice';
      if (p.format === 'date') return 'date';
      if (p.format === 'date-time') return 'datetime';
      if (p.format) return 'other';
      if (p['x-widget'] === 'textarea') return 'textarea';
      return p['x-widget'] ? 'other' : 'text';
    }
    if (Array.isArray(p.enum)) return 'other';
    if (p.type === 'integer' || p.type === 'number' || p.type === 'boolean') return p.type;
    return 'other';
  }

  function applyKind(p, kind) {
    ['type', 'format', 'x-widget', 'enum', 'x-enum-titles'].forEach(function (k) { delete p[k]; });
    var types = { integer: 'integer', number: 'number', boolean: 'boolean' };
    p.type = types[kind] || 'string';
    if (kind === 'textarea') p['x-widget'] = 'textarea';
    if (kind === 'date') p.format = 'date';
    if (kind === 'datetime') p.format = 'date-time';
    if (kind === 'choice') { p.enum = []; p['x-enum-titles'] = []; }
  }

  function choicesText(p) {
    var titles = p['x-enum-titles'] || [];
    return (p.enum || []).map(function (v, i) {
      var t = titles[i];
      return t !== undefined && t !== null && String(t) !== String(v) ? v + '=' + t : String(v);
    }).join('\n');
  }

  function setChoices(p, text) {
    var values = [], titles = [];
    text.split('\n').forEach(function (line) {
      line = line.trim();
      if (!line) return;
      var at = line.indexOf('=');
      var value = at > 0 ? line.slice(0, at).trim() : line;
      values.push(value);
      titles.push(at > 0 ? line.slice(at + 1).trim() || value : value);
    });
    p.enum = values;
    p['x-enum-titles'] = titles;
  }

  /* ----- the schema as text (duplicates kept: the server names them) ------------------------ */

  function serialize(pretty) {
    var nl = pretty ? '\n' : '', sp = pretty ? ' ' : '';
    function pad(level) { return pretty ? new Array(level + 1).join('  ') : ''; }
    function value(v, level) {
      var text = JSON.stringify(v, null, pretty ? 2 : 0);
      return pretty ? text.replace(/\n/g, '\n' + pad(level)) : text;
    }
    var schema = state.schema;
    var keys = Object.keys(schema);
    ['title', 'type', 'properties', 'required'].forEach(function (k) { if (keys.indexOf(k) < 0) keys.push(k); });
    var parts = keys.map(function (k) {
      var text;
      if (k === 'properties') {
        var props = state.fields.map(function (f) {
          return pad(2) + JSON.stringify(f.name) + ':' + sp + value(f.prop, 2);
        });
        text = props.length ? '{' + nl + props.join(',' + nl) + nl + pad(1) + '}' : '{}';
      } else if (k === 'required') {
        var seen = {};
        text = JSON.stringify(state.fields.filter(function (f) {
          if (!f.required || seen[f.name]) return false;
          seen[f.name] = true;
          return true;
        }).map(function (f) { return f.name; }));
      } else if (k === 'type') {
        text = JSON.stringify(schema.type || 'object');
      } else if (k === 'title') {
        text = JSON.stringify(els.title.value);
      } else {
        text = value(schema[k], 1);
      }
      return pad(1) + JSON.stringify(k) + ':' + sp + text;
    });
    return '{' + nl + parts.join(',' + nl) + nl + '}';
  }

  function schemaText() { return state.mode === 'json' ? els.json.value : serialize(false); }

  function load(schema) {
    state.schema = schema && typeof schema === 'object' && !Array.isArray(schema) ? schema : {};
    var props = state.schema.properties && typeof state.schema.properties === 'object' ? state.schema.properties : {};
    var required = Array.isArray(state.schema.required) ? state.schema.required : [];
    state.fields = Object.keys(props).map(function (name) {
      return { name: name, prop: clone(props[name]), required: required.indexOf(name) >= 0 };
    });
    els.title.value = state.schema.title || '';
    render();
  }

  /* ----- the field list ---------------------------------------------------------------------- */

  function cell(label, child) {
    var td = document.createElement('td');
    td.setAttribute('data-label', label);
    td.appendChild(child);
    return td;
  }

  function input(cls, value, label) {
    var el = document.createElement('input');
    el.type = 'text';
    el.className = cls;
    el.value = value;
    el.setAttribute('aria-label', label);
    return el;
  }

  function button(text, action, label) {
    var b = document.createElement('button');
    b.type = 'button';
    b.className = 'btn btn-small';
    b.textContent = text;
    b.setAttribute('data-action', action);
    b.setAttribute('aria-label', label);
    return b;
  }

  function row(f, i) {
    var tr = document.createElement('tr');
    tr.className = 'fd-row';
    tr.setAttribute('data-index', String(i));
    tr.setAttribute('data-name', f.name);
    var kind = kindOf(f.prop);
    tr.appendChild(cell('字段名', input('fd-name', f.name, '字段名')));
    var titleCell = cell('标题', input('fd-field-title', typeof f.prop.title === 'string' ? f.prop.title : '', '标题'));
    var err = document.createElement('div');
    err.className = 'field-error fd-row-error';
    err.hidden = true;
    titleCell.appendChild(err);
    tr.appendChild(titleCell);
    var select = document.createElement('select');
    select.className = 'fd-kind';
    select.setAttribute('aria-label', '类型');
    config.kinds.forEach(function (k) { select.add(new Option(k[1], k[0], false, k[0] === kind)); });
    if (kind === 'other') select.add(new Option('其他（在 JSON 中编辑）', 'other', false, true));
    tr.appendChild(cell('类型', select));
    var req = document.createElement('input');
    req.type = 'checkbox';
    req.className = 'fd-required';
    req.checked = !!f.required;
    req.setAttribute('aria-label', '必填');
    tr.appendChild(cell('必填', req));
    var choices = document.createElement('textarea');
    choices.className = 'fd-choices';
    choices.rows = 3;
    choices.placeholder = '每行一个，如：approve=同意';
    choices.setAttribute('aria-label', '选项');
    choices.value = kind === 'choice' ? choicesText(f.prop) : '';
    choices.hidden = kind !== 'choice';
    var choiceCell = cell('选项', choices);
    if (kind !== 'choice') {
      var none = document.createElement('span');
      none.className = 'muted';
      none.textContent = '—';
      choiceCell.appendChild(none);
    }
    tr.appendChild(choiceCell);
    var actions = document.createElement('td');
    actions.className = 'col-actions nowrap';
    actions.appendChild(button('↑', 'up', '上移'));
    actions.appendChild(button('↓', 'down', '下移'));
    actions.appendChild(button('删除', 'remove', '删除字段'));
    tr.appendChild(actions);
    return tr;
  }

  function render() {
    els.rows.textContent = '';
    state.fields.forEach(function (f, i) { els.rows.appendChild(row(f, i)); });
    if (!state.fields.length) {
      var tr = document.createElement('tr');
      var td = document.createElement('td');
      td.colSpan = 6;
      td.className = 'muted';
      td.textContent = '还没有字段，请点击“添加字段”。';
      tr.appendChild(td);
      els.rows.appendChild(tr);
    }
  }

  function fieldOf(el) {
    var tr = el.closest('tr.fd-row');
    return tr ? { tr: tr, i: Number(tr.getAttribute('data-index')) } : null;
  }

  function changed() {
    state.dirty = true;
    setStatus('有未保存的修改', '');
    clearTimeout(state.timer);
    state.timer = setTimeout(refreshPreview, 350);
  }

  els.rows.addEventListener('input', function (ev) {
    var at = fieldOf(ev.target);
    if (!at) return;
    var f = state.fields[at.i];
    if (ev.target.classList.contains('fd-name')) {
      f.name = ev.target.value.trim();
      at.tr.setAttribute('data-name', f.name);
    } else if (ev.target.classList.contains('fd-field-title')) {
      f.prop.title = ev.target.value;
    } else if (ev.target.classList.contains('fd-choices')) {
      setChoices(f.prop, ev.target.value);
    } else {
      return;
    }
    changed();
  });

  els.rows.addEventListener('change', function (ev) {
    var at = fieldOf(ev.target);
    if (!at) return;
    var f = state.fields[at.i];
    if (ev.target.classList.contains('fd-required')) {
      f.required = ev.target.checked;
    } else if (ev.target.classList.contains('fd-kind')) {
      if (ev.target.value === 'other') return;
      applyKind(f.prop, ev.target.value);
      render();
      var choices = els.rows.querySelector('tr[data-index="' + at.i + '"] .fd-choices');
      if (choices && !choices.hidden) choices.focus();
    } else {
      return;
    }
    changed();
  });

  els.rows.addEventListener('click', function (ev) {
    var b = ev.target.closest('button[data-action]');
    var at = b && fieldOf(b);
    if (!at) return;
    var i = at.i, action = b.getAttribute('data-action'), fields = state.fields;
    if (action === 'remove') {
      if (!window.confirm('删除字段“' + (fields[i].prop.title || fields[i].name) + '”？')) return;
      fields.splice(i, 1);
    } else {
      var j = action === 'up' ? i - 1 : i + 1;
      if (j < 0 || j >= fields.length) return;
      var moved = fields[i];
      fields[i] = fields[j];
      fields[j] = moved;
    }
    render();
    changed();
  });

  document.getElementById('fd-add').addEventListener('click', function () {
    var taken = {};
    state.fields.forEach(function (f) { taken[f.name] = true; });
    var n = state.fields.length + 1;
    while (taken['field' + n]) n += 1;
    state.fields.push({ name: 'field' + n, prop: { title: '', type: 'string' }, required: false });
    render();
    var last = els.rows.querySelector('tr.fd-row:last-child .fd-field-title');
    if (last) last.focus();
    changed();
  });

  els.title.addEventListener('input', function () {
    state.schema.title = els.title.value;
    if (els.heading) els.heading.textContent = els.title.value || config.form_key;
    changed();
  });

  /* ----- JSON view --------------------------------------------------------------------------- */

  function parsed(text) {
    try {
      return { value: JSON.parse(text) };
    } catch (err) {
      return { error: 'JSON 格式错误：' + err.message };
    }
  }

  function showTab(mode) {
    if (mode === state.mode) return;
    if (mode === 'fields') {
      var p = parsed(els.json.value);
      if (p.error) { showJsonError(p.error); return; }
      load(p.value);
    } else {
      els.json.value = serialize(true);
    }
    state.mode = mode;
    els.paneFields.hidden = mode !== 'fields';
    els.paneJson.hidden = mode !== 'json';
    els.tabFields.classList.toggle('active', mode === 'fields');
    els.tabJson.classList.toggle('active', mode === 'json');
    els.tabFields.setAttribute('aria-selected', String(mode === 'fields'));
    els.tabJson.setAttribute('aria-selected', String(mode === 'json'));
  }

  function showJsonError(text) {
    els.jsonError.textContent = text || '';
    els.jsonError.hidden = !text;
  }

  els.tabFields.addEventListener('click', function (ev) { ev.preventDefault(); showTab('fields'); });
  els.tabJson.addEventListener('click', function (ev) { ev.preventDefault(); showTab('json'); });
  els.json.addEventListener('input', function () {
    var p = parsed(els.json.value);
    showJsonError(p.error);
    if (!p.error) changed();
  });

  /* ----- problems, preview, save ------------------------------------------------------------- */

  function setStatus(text, cls) {
    els.status.textContent = text;
    els.status.className = 'fd-status' + (cls ? ' ' + cls : '');
  }

  function markProblems(problems, title) {
    els.rows.querySelectorAll('tr.fd-row').forEach(function (tr) {
      tr.classList.remove('has-error');
      var e = tr.querySelector('.fd-row-error');
      e.textContent = '';
      e.hidden = true;
    });
    if (!problems) { els.errors.hidden = true; els.errors.textContent = ''; return; }
    problems.forEach(function (p) {
      var name = String(p.field || '').split('.')[0];
      if (!name) return;
      els.rows.querySelectorAll('tr.fd-row').forEach(function (tr) {
        if (tr.getAttribute('data-name') !== name) return;
        tr.classList.add('has-error');
        var e = tr.querySelector('.fd-row-error');
        e.textContent = (e.textContent ? e.textContent + '；' : '') + p.message;
        e.hidden = false;
      });
    });
    if (title) {
      els.errors.textContent = '';
      var head = document.createElement('div');
      head.textContent = title;
      var list = document.createElement('ul');
      problems.forEach(function (p) {
        var li = document.createElement('li');
        li.textContent = p.message;
        list.appendChild(li);
      });
      els.errors.appendChild(head);
      els.errors.appendChild(list);
      els.errors.hidden = false;
    }
  }

  function afterPreview() {
    var items = els.preview.querySelectorAll('.fd-preview-problems li');
    markProblems(items.length ? Array.prototype.map.call(items, function (li) {
      return { field: li.getAttribute('data-field'), message: li.textContent };
    }) : null);
    els.preview.querySelectorAll('.schema-form[data-rules]').forEach(function (box) {
      if (!window.GovFlow) return;
      window.GovFlow.applyRules(box);
      box.addEventListener('change', function () { window.GovFlow.applyRules(box); });
    });
  }

  function refreshPreview() {
    var text = schemaText();
    if (state.mode === 'json' && parsed(text).error) return;
    if (window.htmx) {
      window.htmx.ajax('POST', config.urls.preview, {
        target: '#fd-preview', swap: 'innerHTML', values: { schema: text },
        headers: { 'X-CSRFToken': config.csrf }
      });
      return;
    }
    var body = new URLSearchParams({ schema: text });
    fetch(config.urls.preview, { method: 'POST', body: body, credentials: 'same-origin',
                                 headers: { 'X-CSRFToken': config.csrf } })
      .then(function (r) { return r.text(); })
      .then(function (html) { els.preview.innerHTML = html; afterPreview(); });
  }

  document.body.addEventListener('htmx:afterSwap', function (ev) {
    if (ev.target === els.preview) afterPreview();
  });
  els.preview.addEventListener('submit', function (ev) {
    ev.preventDefault();
    setStatus('这是预览，不能提交', 'fd-status-info');
  });

  function request(method, url, body) {
    return fetch(url, {
      method: method, credentials: 'same-origin', body: body,
      headers: { 'Content-Type': 'application/json', 'Accept': 'application/json', 'X-CSRFToken': config.csrf }
    }).then(function (r) {
      return r.json().catch(function () { return { message: '服务器返回了无法识别的内容（' + r.status + '）' }; })
        .then(function (data) { return { status: r.status, data: data }; });
    });
  }

  function hhmm() {
    var d = new Date();
    return ('0' + d.getHours()).slice(-2) + ':' + ('0' + d.getMinutes()).slice(-2);
  }

  els.save.addEventListener('click', function () {
    var text = schemaText();
    var p = parsed(text);
    if (p.error) { showJsonError(p.error); setStatus(p.error, 'fd-status-error'); return; }
    els.save.disabled = true;
    setStatus('正在保存…', '');
    request('PUT', config.urls.save, '{"schema":' + text + '}').then(function (res) {
      els.save.disabled = false;
      if (res.status === 200) {
        state.dirty = false;
        markProblems(null);
        setStatus('已保存到草稿 ' + hhmm(), 'fd-status-ok');
        if (els.source) els.source.textContent = '草稿中的修改（尚未部署）';
        if (els.reset) els.reset.hidden = false;
        return;
      }
      var data = res.data || {};
      markProblems(data.details && data.details.length ? data.details : [{ field: '', message: data.message || '保存失败' }],
                   data.message || '保存失败');
      setStatus(data.message || '保存失败', 'fd-status-error');
    }).catch(function () {
      els.save.disabled = false;
      setStatus('网络错误，未保存', 'fd-status-error');
    });
  });

  if (els.reset) {
    els.reset.addEventListener('click', function () {
      if (!window.confirm('撤销草稿中对该表单的修改，恢复为当前版本的表单？')) return;
      request('DELETE', config.urls.reset).then(function (res) {
        if (res.status === 200) { state.dirty = false; window.location.reload(); return; }
        setStatus((res.data && res.data.message) || '操作失败', 'fd-status-error');
      });
    });
  }

  window.addEventListener('beforeunload', function (ev) {
    if (!state.dirty) return;
    ev.preventDefault();
    ev.returnValue = '';
  });

  var initial = parsed(els.json.value);
  load(initial.error ? {} : initial.value);
  afterPreview();
  window.GovFlowFormDesigner = { schemaText: schemaText, refresh: refreshPreview };
})();
