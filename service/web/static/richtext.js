/* Rich-text fields (_form_widgets.html): a Quill 2 editor over each [data-richtext] box, writing
   its HTML into the box's textarea (the field that is posted). Without this script, or without
   Quill, the textarea stays visible and is posted as typed; the server cleans every value
   (service/html_clean.py), so nothing here is a safety measure.
   On a task page (data-upload-url) the image button uploads the picture to the case's
   attachments (as its procedure's image kind: no kind is posted) and inserts
   <img src="/site/files/<id>">; elsewhere there is no image button. */
(function () {
  'use strict';
  if (window.GovFlowRichText) return;

  var TITLES = {
    '.ql-header': '标题', '.ql-bold': '加粗', '.ql-italic': '斜体', '.ql-underline': '下划线',
    '.ql-list[value="ordered"]': '列表（编号）', '.ql-list[value="bullet"]': '列表（圆点）',
    '.ql-blockquote': '引用', '.ql-link': '链接', '.ql-image': '图片', '.ql-clean': '清除格式'
  };
  var IMAGE_TYPES = 'image/png,image/jpeg';

  function toolbar(withImage) {
    var insert = withImage ? ['blockquote', 'link', 'image'] : ['blockquote', 'link'];
    return [[{ header: [2, 3, 4, false] }], ['bold', 'italic', 'underline'],
      [{ list: 'ordered' }, { list: 'bullet' }], insert, ['clean']];
  }

  /* Quill's semantic HTML writes every space as &nbsp; (2.0.3): plain spaces read and wrap better. */
  function html(quill) {
    if (quill.getLength() <= 1 && !quill.root.querySelector('img')) return '';
    return quill.getSemanticHTML().replace(/&nbsp;/g, ' ');
  }

  function status(box, text, isError) {
    var el = box.querySelector('.rt-status');
    if (!el) return;
    el.textContent = text || '';
    el.classList.toggle('field-error', !!isError);
  }

  function upload(box, quill) {
    var url = box.getAttribute('data-upload-url');
    var form = box.closest('form');
    var picker = document.createElement('input');
    picker.type = 'file';
    picker.accept = IMAGE_TYPES;
    picker.addEventListener('change', function () {
      var file = picker.files && picker.files[0];
      if (!file) return;
      var body = new FormData();
      body.append('file', file);
      if (box.getAttribute('data-upload-task')) body.append('task_id', box.getAttribute('data-upload-task'));
      var token = form && form.querySelector('input[name="csrf_token"]');
      if (token) body.append('csrf_token', token.value);
      status(box, '图片上传中…', false);
      fetch(url, { method: 'POST', body: body, credentials: 'same-origin', headers: { Accept: 'application/json' } })
        .then(function (r) {
          return r.json().catch(function () { return { message: '上传失败（' + r.status + '）' }; })
            .then(function (answer) { return { ok: r.ok, answer: answer }; });
        })
        .then(function (result) {
          var files = result.answer && result.answer.files;
          if (!result.ok || !files || !files.length) {
            status(box, (result.answer && result.answer.message) || '图片未上传', true);
            return;
          }
          var range = quill.getSelection(true);
          quill.insertEmbed(range ? range.index : quill.getLength(), 'image', files[0].src, 'user');
          status(box, '已上传图片：' + files[0].filename, false);
        })
        .catch(function () { status(box, '图片未上传：网络错误，请重试', true); });
    });
    picker.click();
  }

  function mount(box) {
    var source = box.querySelector('textarea.rt-source');
    if (!source || box.getAttribute('data-mounted') || typeof window.Quill !== 'function') return;
    var withImage = !!box.getAttribute('data-upload-url');
    var holder = document.createElement('div');
    holder.className = 'rt-editor';
    source.parentNode.insertBefore(holder, source);
    var handlers = withImage ? { image: function () { upload(box, quill); } } : {};
    var quill = new window.Quill(holder, {
      theme: 'snow',
      modules: { toolbar: { container: toolbar(withImage), handlers: handlers } },
      placeholder: source.getAttribute('placeholder') || '请输入正文…'
    });
    if (source.value.trim()) quill.clipboard.dangerouslyPasteHTML(source.value, 'silent');
    var bar = box.querySelector('.ql-toolbar');
    Object.keys(TITLES).forEach(function (selector) {
      bar.querySelectorAll(selector).forEach(function (el) {
        el.setAttribute('title', TITLES[selector]);
        el.setAttribute('aria-label', TITLES[selector]);
      });
    });
    var sync = function () { source.value = html(quill); };
    quill.on('text-change', sync);
    var form = box.closest('form');
    if (form) form.addEventListener('submit', sync, true);
    if (source.getAttribute('aria-invalid')) holder.setAttribute('aria-invalid', 'true');
    var label = document.querySelector('label[for="' + source.id + '"]');
    if (label) {
      quill.root.setAttribute('aria-label', label.textContent.replace('*', '').trim());
      label.addEventListener('click', function () { quill.focus(); });
    }
    source.hidden = true;
    source.removeAttribute('required');  // the editor is what the user fills in; the server checks
    box.setAttribute('data-mounted', '1');
    box.quill = quill;
  }

  function mountAll() { document.querySelectorAll('[data-richtext]').forEach(mount); }

  window.GovFlowRichText = { mount: mount };
  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', mountAll);
  else mountAll();
})();
