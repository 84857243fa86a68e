/* whisperq dashboard: plain JS, no framework, no build step, no external URLs.
 * Every list is keyed by id and updated in place, so the 2-second refresh never flickers. */
(() => {
  "use strict";

  const POLL_MS = 2000;
  const LOGS_EVERY = 2;         // ticks between log refreshes (the tail reads one object per event)
  const MODELS_EVERY = 15;      // ticks between refreshes of the model list in the upload form
  const HISTORY_LIMIT = 100;
  const UPLOAD_CONCURRENCY = 3;
  const FORMATS = ["txt", "srt", "vtt", "tsv", "json", "verbose.json"];
  const TERMINAL = new Set(["done", "error", "cancelled"]);
  const LEVELS = { DEBUG: 10, INFO: 20, WARNING: 30, ERROR: 40, CRITICAL: 50 };

  // ---------------------------------------------------------------- i18n
  const I18N = {
    ru: {
      "conn.connecting": "подключение…", "conn.live": "обновлено {time}", "conn.paused": "пауза (вкладка скрыта)",
      "conn.offline": "нет связи: {error}", "conn.locked": "нужен API-ключ",
      "count.queued": "в очереди", "count.processing": "в работе", "count.done": "готово", "count.failed": "ошибок",
      "key.button": "API-ключ", "key.label": "Сервис требует API-ключ", "key.placeholder": "ключ",
      "key.save": "Сохранить", "key.forget": "Забыть", "key.note": "Ключ хранится только в этом браузере.",
      "key.rejected": "Ключ не принят сервисом. Проверьте его.", "key.saved": "Ключ сохранён",
      "upload.title": "Загрузка", "upload.drop": "Перетащите аудио или видео сюда",
      "upload.pick": "или нажмите, чтобы выбрать файлы", "upload.start": "Распознать", "upload.clear": "Очистить",
      "opt.model": "Модель", "opt.speed": "Ускорение", "opt.prompt": "Подсказка (initial prompt)",
      "opt.prompt_ph": "имена, термины, стиль текста…", "opt.upgrade": "Улучшить текст (LLM)",
      "opt.direct": "Напрямую в хранилище (presigned URL)",
      "up.preparing": "подготовка…", "up.uploading": "загрузка {pct}%", "up.sent": "в очереди",
      "up.error": "ошибка", "up.too_big": "Файл больше допустимого ({max})", "up.open": "открыть",
      "up.fallback": "{name}: прямая загрузка не удалась, отправляю через API",
      "active.title": "Очередь и обработка", "active.empty": "Очередь пуста.",
      "history.title": "История", "history.filter": "фильтр по имени", "history.empty": "Пока ничего нет.",
      "tab.completed": "Готово", "tab.failed": "Ошибки", "tab.cancelled": "Отменено",
      "status.queued": "в очереди", "status.processing": "обработка", "status.done": "готово",
      "status.error": "ошибка", "status.cancelled": "отменено", "status.awaiting_upload": "ждёт загрузку",
      "action.cancel": "Отменить", "action.retry": "Повторить",
      "job.waiting": "ждёт {time}", "job.position": "#{n} в очереди", "job.took": "за {time}",
      "viewer.title": "Результат", "viewer.empty": "Выберите задачу в списке или загрузите файл.",
      "viewer.copy": "Копировать", "viewer.copied": "Текст скопирован", "viewer.text": "Текст",
      "viewer.segments": "Сегменты", "viewer.waiting": "Текст появится, когда распознавание закончится.",
      "viewer.no_text": "Текста нет.",
      "meta.model": "модель", "meta.device": "устройство", "meta.language": "язык", "meta.duration": "длительность",
      "meta.queue_time": "ожидание", "meta.processing_time": "обработка", "meta.up_speed": "ускорение",
      "meta.size": "размер", "meta.created": "создано", "meta.attempts": "попытки", "meta.task": "задача",
      "meta.progress": "прогресс",
      "gpu.title": "GPU", "gpu.empty": "Ни один исполнитель не сообщил о GPU (работа на CPU).",
      "gpu.memory": "память", "gpu.util": "загрузка",
      "models.title": "Модели по устройствам", "models.empty": "Нет активных исполнителей.",
      "models.device": "устройство",
      "state.loaded": "загружена", "state.loading": "загрузка", "state.downloading": "скачивание",
      "state.unloaded": "выгружена", "state.not_downloaded": "нет", "state.error": "ошибка",
      "logs.title": "Журнал", "logs.filter": "фильтр: текст, источник, id задачи", "logs.all": "все уровни",
      "logs.follow": "следить",
      "toast.cancelled": "Задача отменена: {name}", "toast.retried": "Задача запущена снова: {name}",
      "err.network": "нет связи с сервисом", "err.http": "Ошибка {status}", "err.allowed": "Допустимо: {allowed}",
      "msgs": "сообщения: {visible} · в работе {in_flight} · DLQ {dead}",
      "unit.s": "с", "unit.min": "мин",
    },
    en: {
      "conn.connecting": "connecting…", "conn.live": "updated {time}", "conn.paused": "paused (tab hidden)",
      "conn.offline": "offline: {error}", "conn.locked": "API key needed",
      "count.queued": "queued", "count.processing": "processing", "count.done": "done", "count.failed": "failed",
      "key.button": "API key", "key.label": "The service requires an API key", "key.placeholder": "key",
      "key.save": "Save", "key.forget": "Forget", "key.note": "The key is kept in this browser only.",
      "key.rejected": "The service rejected this key. Check it.", "key.saved": "Key saved",
      "upload.title": "Upload", "upload.drop": "Drop audio or video files here",
      "upload.pick": "or click to pick files", "upload.start": "Transcribe", "upload.clear": "Clear",
      "opt.model": "Model", "opt.speed": "Speed-up", "opt.prompt": "Initial prompt",
      "opt.prompt_ph": "names, terms, writing style…", "opt.upgrade": "Refine the text (LLM)",
      "opt.direct": "Straight to storage (presigned URL)",
      "up.preparing": "preparing…", "up.uploading": "uploading {pct}%", "up.sent": "queued",
      "up.error": "error", "up.too_big": "The file is larger than allowed ({max})", "up.open": "open",
      "up.fallback": "{name}: direct upload failed, sending through the API",
      "active.title": "Queue and processing", "active.empty": "The queue is empty.",
      "history.title": "History", "history.filter": "filter by name", "history.empty": "Nothing here yet.",
      "tab.completed": "Completed", "tab.failed": "Failed", "tab.cancelled": "Cancelled",
      "status.queued": "queued", "status.processing": "processing", "status.done": "done",
      "status.error": "error", "status.cancelled": "cancelled", "status.awaiting_upload": "awaiting upload",
      "action.cancel": "Cancel", "action.retry": "Retry",
      "job.waiting": "waiting {time}", "job.position": "#{n} in queue", "job.took": "took {time}",
      "viewer.title": "Result", "viewer.empty": "Pick a task from the lists or upload a file.",
      "viewer.copy": "Copy", "viewer.copied": "Text copied", "viewer.text": "Text",
      "viewer.segments": "Segments", "viewer.waiting": "The text appears when transcription finishes.",
      "viewer.no_text": "No text.",
      "meta.model": "model", "meta.device": "device", "meta.language": "language", "meta.duration": "duration",
      "meta.queue_time": "waited", "meta.processing_time": "processing", "meta.up_speed": "speed-up",
      "meta.size": "size", "meta.created": "created", "meta.attempts": "attempts", "meta.task": "task",
      "meta.progress": "progress",
      "gpu.title": "GPUs", "gpu.empty": "No runner reports a GPU (transcribing on CPU).",
      "gpu.memory": "memory", "gpu.util": "util",
      "models.title": "Models per device", "models.empty": "No live runners.",
      "models.device": "device",
      "state.loaded": "loaded", "state.loading": "loading", "state.downloading": "downloading",
      "state.unloaded": "unloaded", "state.not_downloaded": "—", "state.error": "error",
      "logs.title": "Logs", "logs.filter": "filter: text, source, task id", "logs.all": "all levels",
      "logs.follow": "follow",
      "toast.cancelled": "Task cancelled: {name}", "toast.retried": "Task started again: {name}",
      "err.network": "the service cannot be reached", "err.http": "Error {status}", "err.allowed": "Allowed: {allowed}",
      "msgs": "messages: {visible} · in flight {in_flight} · DLQ {dead}",
      "unit.s": "s", "unit.min": "min",
    },
  };

  const store = {
    get(name) { try { return localStorage.getItem("whisperq." + name); } catch { return null; } },
    set(name, value) {
      try {
        if (value === null || value === undefined) localStorage.removeItem("whisperq." + name);
        else localStorage.setItem("whisperq." + name, value);
      } catch { /* private mode: settings just aren't remembered */ }
    },
  };

  function initialLang() {
    const saved = store.get("lang");
    if (saved && I18N[saved]) return saved;
    for (const tag of navigator.languages || [navigator.language || ""]) {
      const base = String(tag).toLowerCase().split("-")[0];
      if (base === "ru" || base === "uk" || base === "be" || base === "kk") return "ru";
      if (base === "en") return "en";
    }
    return "ru"; // the service's users are Russian-speaking first
  }

  let lang = initialLang();

  function t(key, vars) {
    const text = I18N[lang][key] ?? I18N.en[key] ?? key;
    return vars ? text.replace(/\{(\w+)\}/g, (_, k) => (vars[k] ?? "")) : text;
  }

  function applyI18n() {
    document.documentElement.lang = lang;
    for (const el of document.querySelectorAll("[data-i18n]")) setText(el, t(el.dataset.i18n));
    for (const el of document.querySelectorAll("[data-i18n-placeholder]")) {
      el.placeholder = t(el.dataset.i18nPlaceholder);
    }
    markSelected(".lang-btn", "aria-pressed", (btn) => btn.dataset.lang === lang);
  }

  function setLang(next) {
    if (!I18N[next] || next === lang) return;
    lang = next;
    store.set("lang", next);
    applyI18n();
    renderAll();
  }

  // ---------------------------------------------------------------- small DOM helpers
  const $ = (id) => document.getElementById(id);

  function markSelected(selector, attribute, isSelected) {
    for (const node of document.querySelectorAll(selector)) node.setAttribute(attribute, String(isSelected(node)));
  }

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function setText(node, text) {
    const value = text === null || text === undefined ? "" : String(text);
    if (node.textContent !== value) node.textContent = value;
  }

  function setAttr(node, name, value) {
    if (value === null || value === undefined || value === false) {
      if (node.hasAttribute(name)) node.removeAttribute(name);
    } else if (node.getAttribute(name) !== String(value)) {
      node.setAttribute(name, String(value));
    }
  }

  function setBar(bar, fraction, levels) {
    const span = bar.firstElementChild;
    const indeterminate = fraction === null || fraction === undefined || Number.isNaN(fraction);
    bar.classList.toggle("bar-indeterminate", indeterminate);
    const width = indeterminate ? "" : `${Math.max(0, Math.min(1, fraction)) * 100}%`;
    if (span.style.width !== width) span.style.width = width;
    let level = null;
    if (levels && !indeterminate) level = fraction >= 0.9 ? "high" : fraction >= 0.75 ? "warn" : null;
    setAttr(bar, "data-level", level);
  }

  function makeBar() {
    const bar = el("div", "bar");
    bar.append(el("span"));
    return bar;
  }

  /** Keep ``container``'s children equal to ``items`` (in order), reusing the element of each key. */
  function syncKeyed(container, rows, items, keyOf, create, update) {
    const seen = new Set();
    let cursor = container.firstElementChild;
    for (const item of items) {
      const key = keyOf(item);
      seen.add(key);
      let node = rows.get(key);
      if (!node) {
        node = create(item, key);
        rows.set(key, node);
      }
      update(node, item);
      if (node !== cursor) container.insertBefore(node, cursor);
      else cursor = cursor.nextElementSibling;
    }
    for (const [key, node] of rows) {
      if (!seen.has(key)) {
        node.remove();
        rows.delete(key);
      }
    }
  }

  // ---------------------------------------------------------------- formatting
  const locale = () => (lang === "ru" ? "ru-RU" : "en-GB");

  function fmtClock(value) {
    if (!value) return "";
    const date = typeof value === "number" ? new Date(value * 1000) : new Date(value);
    if (Number.isNaN(date.getTime())) return String(value);
    const sameDay = date.toDateString() === new Date().toDateString();
    const time = date.toLocaleTimeString(locale(), { hour: "2-digit", minute: "2-digit", second: "2-digit" });
    return sameDay ? time : `${date.toLocaleDateString(locale(), { day: "2-digit", month: "2-digit" })} ${time}`;
  }

  function fmtDuration(seconds) {
    if (seconds === null || seconds === undefined || Number.isNaN(seconds)) return "";
    if (seconds < 60) return `${seconds.toFixed(seconds < 10 ? 1 : 0)} ${t("unit.s")}`;
    const m = Math.floor(seconds / 60);
    const s = Math.floor(seconds % 60);
    if (m < 60) return `${m}:${String(s).padStart(2, "0")}`;
    return `${Math.floor(m / 60)}:${String(m % 60).padStart(2, "0")}:${String(s).padStart(2, "0")}`;
  }

  function fmtBytes(bytes) {
    if (bytes === null || bytes === undefined) return "";
    const units = ["B", "KB", "MB", "GB", "TB"];
    let value = bytes;
    let unit = 0;
    while (value >= 1024 && unit < units.length - 1) { value /= 1024; unit += 1; }
    return `${value.toFixed(value < 10 && unit ? 1 : 0)} ${units[unit]}`;
  }

  function fmtStamp(seconds) {
    const total = Math.max(0, seconds || 0);
    const h = Math.floor(total / 3600);
    const m = Math.floor((total % 3600) / 60);
    const s = (total % 60).toFixed(1).padStart(4, "0");
    return `${h ? `${h}:` : ""}${String(m).padStart(2, "0")}:${s}`;
  }

  // Runners write progress every few seconds; until the first write the bar shows work without a number.
  const reported = (status) => (status && typeof status.progress === "number" && status.progress > 0
    ? status.progress : null);
  const secondsBetween = (a, b) => (a && b ? (new Date(b) - new Date(a)) / 1000 : null);
  const sinceNow = (iso) => (iso ? Math.max(0, (Date.now() - new Date(iso)) / 1000) : null);
  const statusLabel = (status) => t(`status.${status}`);

  // ---------------------------------------------------------------- toasts
  function toast(message, kind = "info", detail = "") {
    const node = el("div", "toast", message);
    node.dataset.kind = kind;
    if (detail) node.append(el("span", "allowed", detail));
    $("toasts").append(node);
    setTimeout(() => node.remove(), kind === "error" ? 9000 : 4000);
  }

  function showError(error) {
    const allowed = error.allowed ? t("err.allowed", { allowed: fmtAllowed(error.allowed) }) : "";
    toast(error.message || String(error), "error", allowed);
  }

  function fmtAllowed(allowed) {
    if (Array.isArray(allowed)) return allowed.join(", ");
    return typeof allowed === "object" ? JSON.stringify(allowed) : String(allowed);
  }

  // ---------------------------------------------------------------- API and keys
  const auth = { key: store.get("apiKey") || "", required: Boolean(store.get("apiKey")), locked: false };

  class ApiError extends Error {
    constructor(status, body) {
      const message = errorMessage(status, body);
      super(message);
      this.status = status;
      this.allowed = body && typeof body === "object" ? body.allowed : undefined;
      this.field = body && typeof body === "object" ? body.field : undefined;
    }
  }

  function errorMessage(status, body) {
    if (status === 0) return t("err.network");
    let detail = "";
    if (body && typeof body === "object") {
      const err = body.error;
      detail = typeof err === "string" ? err : err && err.message ? err.message : "";
    } else if (typeof body === "string") {
      const s3 = /<Message>([^<]*)<\/Message>/.exec(body); // S3 answers errors in XML
      detail = s3 ? s3[1] : body.slice(0, 300);
    }
    return detail ? `${t("err.http", { status })}: ${detail}` : t("err.http", { status });
  }

  function authHeaders() {
    return auth.key ? { Authorization: `Bearer ${auth.key}` } : {};
  }

  function parseBody(text) {
    if (!text) return null;
    try { return JSON.parse(text); } catch { return text; }
  }

  async function api(path, options = {}) {
    const init = { ...options, headers: { ...authHeaders(), ...(options.headers || {}) } };
    if (options.json !== undefined) {
      init.body = JSON.stringify(options.json);
      init.headers["Content-Type"] = "application/json";
    }
    let response;
    try {
      response = await fetch(path, init);
    } catch {
      throw new ApiError(0, null);
    }
    const body = parseBody(await response.text());
    if (response.status === 401) onUnauthorized();
    if (!response.ok) throw new ApiError(response.status, body);
    if (auth.locked) onAuthorized();
    return body;
  }

  function onUnauthorized() {
    auth.required = true;
    auth.locked = true;
    $("key-toggle").hidden = false;
    const bar = $("keybar");
    bar.hidden = false;
    bar.dataset.state = auth.key ? "rejected" : "needed";
    setText($("key-note"), t(auth.key ? "key.rejected" : "key.note"));
    if (document.activeElement !== $("key-input")) $("key-input").focus();
  }

  function onAuthorized() {
    auth.locked = false;
    $("keybar").hidden = true;
  }

  function saveKey(event) {
    event.preventDefault();
    auth.key = $("key-input").value.trim();
    store.set("apiKey", auth.key || null);
    $("key-input").value = "";
    $("keybar").dataset.state = "checking";
    if (auth.key) toast(t("key.saved"), "ok");
    loadModelList();
    refreshNow();
  }

  function forgetKey() {
    auth.key = "";
    store.set("apiKey", null);
    $("key-input").value = "";
    refreshNow();
  }

  function bindKeyBar() {
    $("key-form").addEventListener("submit", saveKey);
    $("key-forget").addEventListener("click", forgetKey);
    $("key-toggle").hidden = !auth.required;
    $("key-toggle").addEventListener("click", () => {
      const bar = $("keybar");
      bar.hidden = !bar.hidden;
      if (!bar.hidden) $("key-input").focus();
    });
  }

  // ---------------------------------------------------------------- state shared by the renderers
  const state = {
    queue: null,        // last /api/queue answer
    progress: new Map(), // task id -> /api/status of processing tasks
    gpus: [],
    models: {},
    logs: [],
    historyTab: "completed",
    selectedId: null,
    selected: null,     // last /api/status of the selected task
    viewerTab: "text",
    tick: 0,
  };

  // ---------------------------------------------------------------- upload form
  const picked = [];
  let uploadSeq = 0;

  function bindUpload() {
    const input = $("file-input");
    const drop = $("drop");
    input.addEventListener("change", () => {
      addPicked(input.files);
      input.value = "";
    });
    for (const type of ["dragenter", "dragover"]) {
      drop.addEventListener(type, (e) => { e.preventDefault(); drop.classList.add("over"); });
    }
    for (const type of ["dragleave", "drop"]) drop.addEventListener(type, () => drop.classList.remove("over"));
    drop.addEventListener("drop", (e) => {
      e.preventDefault();
      addPicked(e.dataTransfer.files);
    });
    // A file dropped anywhere else must not make the browser navigate away from the dashboard.
    window.addEventListener("dragover", (e) => e.preventDefault());
    window.addEventListener("drop", (e) => e.preventDefault());
    $("upload-form").addEventListener("submit", (e) => { e.preventDefault(); startUploads(); });
    $("upload-clear").addEventListener("click", () => { picked.length = 0; renderPicked(); });
    bindOptions();
  }

  function bindOptions() {
    const speed = $("opt-speed");
    const savedSpeed = Number(store.get("upSpeed"));
    if (savedSpeed >= 0.25 && savedSpeed <= 4) speed.value = String(savedSpeed);
    const showSpeed = () => setText($("opt-speed-out"), `${Number(speed.value).toFixed(2)}×`);
    speed.addEventListener("input", showSpeed);
    speed.addEventListener("change", () => store.set("upSpeed", speed.value));
    showSpeed();
    $("opt-upgrade").checked = store.get("upgrade") === "1";
    $("opt-upgrade").addEventListener("change", (e) => store.set("upgrade", e.target.checked ? "1" : "0"));
    $("opt-direct").checked = store.get("direct") !== "0";
    $("opt-direct").addEventListener("change", (e) => store.set("direct", e.target.checked ? "1" : "0"));
    $("opt-model").addEventListener("change", (e) => store.set("model", e.target.value));
  }

  function addPicked(fileList) {
    for (const file of fileList) picked.push(file);
    renderPicked();
  }

  function renderPicked() {
    const list = $("picked");
    list.replaceChildren(...picked.map((file, index) => {
      const item = el("li");
      const remove = el("button", "", "×");
      remove.type = "button";
      remove.setAttribute("aria-label", `remove ${file.name}`);
      remove.addEventListener("click", () => { picked.splice(index, 1); renderPicked(); });
      item.append(el("span", "name", file.name), el("span", "size", fmtBytes(file.size)), remove);
      return item;
    }));
    $("upload-start").disabled = picked.length === 0;
    $("upload-clear").hidden = picked.length === 0;
  }

  function readOptions() {
    const options = {
      model_name: $("opt-model").value || undefined,
      up_speed: Number($("opt-speed").value),
      upgrade_transcribation: $("opt-upgrade").checked,
    };
    const prompt = $("opt-prompt").value.trim();
    if (prompt) options.initial_prompt = prompt;
    return options;
  }

  async function loadModelList() {
    try {
      const body = await api("v1/models");
      const names = (body.data || []).map((m) => m.id).filter((id) => id !== "whisper-1");
      fillModelSelect(names);
    } catch { /* retried on a later tick */ }
  }

  function fillModelSelect(names) {
    const select = $("opt-model");
    const current = select.value || store.get("model");
    const same = names.length === select.options.length && names.every((n, i) => select.options[i].value === n);
    if (!same) select.replaceChildren(...names.map((name) => new Option(name, name)));
    const preferred = [current, "base"].find((n) => n && names.includes(n));
    if (preferred) select.value = preferred;
  }

  function startUploads() {
    const files = picked.splice(0);
    renderPicked();
    const options = readOptions();
    const direct = $("opt-direct").checked;
    const jobs = files.map((file) => newUploadItem(file));
    runPool(jobs, UPLOAD_CONCURRENCY, (item) => uploadOne(item, options, direct));
  }

  async function runPool(items, size, work) {
    const queue = items.slice();
    const worker = async () => {
      while (queue.length) await work(queue.shift());
    };
    await Promise.all(Array.from({ length: Math.min(size, queue.length) }, worker));
  }

  function newUploadItem(file) {
    uploadSeq += 1;
    const node = el("li", "upload");
    node.dataset.upload = String(uploadSeq);
    node.dataset.state = "preparing";
    const label = el("span", "", t("up.preparing"));
    const open = el("button", "open", t("up.open"));
    open.type = "button";
    open.hidden = true;
    const stateText = el("span", "state");
    stateText.append(label, open);
    const bar = makeBar();
    node.append(el("span", "name", file.name), stateText, bar);
    $("uploads").prepend(node);
    trimUploads();
    return { file, node, label, open, bar };
  }

  function trimUploads() {
    const list = $("uploads");
    while (list.children.length > 8 && list.lastElementChild.dataset.state !== "uploading") {
      list.lastElementChild.remove();
    }
  }

  function setUploadState(item, stateName, text, fraction) {
    item.node.dataset.state = stateName;
    setText(item.label, text);
    if (fraction !== undefined) setBar(item.bar, fraction);
  }

  async function uploadOne(item, options, direct) {
    try {
      const taskId = await sendFile(item, options, direct);
      item.node.dataset.task = taskId;
      setUploadState(item, "sent", t("up.sent"), 1);
      item.open.hidden = false;
      item.open.addEventListener("click", () => selectTask(taskId));
      if (!state.selectedId || (state.selected && TERMINAL.has(state.selected.status))) selectTask(taskId);
      refreshNow();
    } catch (error) {
      setUploadState(item, "error", t("up.error"), 0);
      const allowed = error.allowed ? `\n${t("err.allowed", { allowed: fmtAllowed(error.allowed) })}` : "";
      item.node.append(el("span", "err", error.message + allowed));
    }
  }

  async function sendFile(item, options, direct) {
    if (direct) {
      const grant = await requestGrant(item.file, options);
      if (grant) {
        const sent = await sendDirect(item, grant);
        if (sent) return grant.task_id;
        toast(t("up.fallback", { name: item.file.name }));
      }
    }
    return sendForm(item, options);
  }

  /** Ask for a presigned upload; null where this service has none (so the form upload is used). */
  async function requestGrant(file, options) {
    try {
      return await api("api/uploads", { method: "POST", json: { filename: file.name, ...options } });
    } catch (error) {
      if ([404, 405, 501].includes(error.status)) return null;
      throw error;
    }
  }

  /** Upload straight to the grant's URL; false when the network refused it (e.g. bucket CORS). */
  async function sendDirect(item, grant) {
    const discard = () => api(`api/tasks/${grant.task_id}`, { method: "DELETE" }).catch(() => {});
    if (grant.max_bytes && item.file.size > grant.max_bytes) {
      await discard();
      throw new Error(t("up.too_big", { max: fmtBytes(grant.max_bytes) }));
    }
    try {
      if (grant.method === "PUT") {
        await xhrSend("PUT", grant.upload_url, item.file, grant.headers || {}, progressOf(item));
      } else {
        const form = new FormData();
        for (const [name, value] of Object.entries(grant.fields || {})) form.append(name, value);
        form.append("file", item.file);
        await xhrSend("POST", grant.upload_url, form, {}, progressOf(item));
        await api(grant.complete_url, { method: "POST" }).catch(() => {}); // the sweeper queues it otherwise
      }
      return true;
    } catch (error) {
      await discard();
      if (error.status === 0) return false;
      throw error;
    }
  }

  function sendForm(item, options) {
    const form = new FormData();
    form.append("file", item.file);
    for (const [name, value] of Object.entries(options)) {
      if (value !== undefined) form.append(name, String(value));
    }
    return xhrSend("POST", "api/transcribe", form, authHeaders(), progressOf(item)).then((body) => body.task_id);
  }

  function progressOf(item) {
    return (loaded, total) => {
      const fraction = total ? loaded / total : null;
      setUploadState(item, "uploading", t("up.uploading", { pct: Math.round((fraction || 0) * 100) }), fraction);
    };
  }

  // XMLHttpRequest rather than fetch: only it reports upload progress.
  function xhrSend(method, url, body, headers, onProgress) {
    return new Promise((resolve, reject) => {
      const xhr = new XMLHttpRequest();
      xhr.open(method, url);
      for (const [name, value] of Object.entries(headers)) xhr.setRequestHeader(name, value);
      xhr.upload.addEventListener("progress", (e) => onProgress(e.loaded, e.lengthComputable ? e.total : 0));
      xhr.addEventListener("load", () => {
        const parsed = parseBody(xhr.responseText);
        if (xhr.status === 401) onUnauthorized();
        if (xhr.status >= 200 && xhr.status < 300) resolve(parsed || {});
        else reject(new ApiError(xhr.status, parsed));
      });
      xhr.addEventListener("error", () => reject(new ApiError(0, null)));
      xhr.addEventListener("abort", () => reject(new ApiError(0, null)));
      xhr.send(body);
    });
  }

  // ---------------------------------------------------------------- polling
  let timer = null;
  let running = false;
  let again = false;

  async function tick() {
    clearTimeout(timer);
    if (document.hidden) { setConn("paused"); return; }
    if (running) { again = true; return; }
    running = true;
    try {
      await refreshAll();
    } finally {
      running = false;
      state.tick += 1;
      if (again) { again = false; tick(); } else schedule();
    }
  }

  function schedule() {
    clearTimeout(timer);
    if (!document.hidden) timer = setTimeout(tick, POLL_MS);
  }

  const refreshNow = () => tick();

  async function refreshAll() {
    const work = [refreshQueue(), refreshGpus(), refreshModelStatus()];
    if (state.tick % LOGS_EVERY === 0) work.push(refreshLogs());
    if (state.tick % MODELS_EVERY === 0 || !$("opt-model").options.length) work.push(loadModelList());
    const results = await Promise.allSettled(work);
    const failure = results.find((r) => r.status === "rejected");
    if (auth.locked) setConn("locked");
    else if (failure) setConn("offline", failure.reason);
    else setConn("live");
  }

  function setConn(kind, error) {
    const conn = $("conn");
    conn.dataset.conn = kind;
    const time = new Date().toLocaleTimeString(locale());
    const text = kind === "offline"
      ? t("conn.offline", { error: error ? error.message : "" })
      : t(`conn.${kind}`, { time });
    setText($("conn-text"), text);
  }

  async function refreshQueue() {
    state.queue = await api(`api/queue?limit=${HISTORY_LIMIT}`);
    await Promise.allSettled([refreshProgress(), refreshSelected()]);
    renderQueue();
  }

  /** /api/queue has no progress: ask the status of each processing task (one per busy device). */
  async function refreshProgress() {
    const ids = (state.queue.processing || []).map((job) => job.id);
    const answers = await Promise.allSettled(ids.map((id) => api(`api/status/${id}`)));
    const next = new Map();
    answers.forEach((answer, i) => { if (answer.status === "fulfilled") next.set(ids[i], answer.value); });
    state.progress = next;
  }

  async function refreshSelected(force = false) {
    const id = state.selectedId;
    if (!id) return;
    const known = state.selected && state.selected.task_id === id ? state.selected : null;
    if (known && TERMINAL.has(known.status) && !force) return; // terminal states are final
    const status = await api(`api/status/${id}`);
    if (state.selectedId === id) {
      state.selected = status;
      renderViewer();
    }
  }

  async function refreshGpus() {
    state.gpus = await api("api/gpus");
    renderGpus();
  }

  async function refreshModelStatus() {
    state.models = await api("api/model_status");
    renderModels();
  }

  async function refreshLogs() {
    state.logs = await api("api/logs?limit=200");
    renderLogs();
  }

  function renderAll() {
    if (state.queue) renderQueue();
    renderViewer();
    renderGpus();
    renderModels();
    renderLogs();
  }

  /** A sent upload shows its task's live status, so the list doubles as "my files". */
  function renderUploads() {
    const statuses = new Map();
    const lists = { queue: "queued", processing: "processing", completed: "done", failed: "error",
      cancelled: "cancelled", awaiting_upload: "awaiting_upload" };
    for (const [list, status] of Object.entries(lists)) {
      for (const job of (state.queue && state.queue[list]) || []) statuses.set(job.id, status);
    }
    for (const node of document.querySelectorAll(".upload[data-state='sent']")) {
      const status = statuses.get(node.dataset.task);
      if (status) {
        setAttr(node, "data-status", status);
        setText(node.querySelector(".state span"), statusLabel(status));
      }
      setText(node.querySelector(".open"), t("up.open"));
    }
  }

  // ---------------------------------------------------------------- queue and history
  const activeRows = new Map();
  const historyRows = new Map();

  function renderQueue() {
    const q = state.queue;
    for (const node of document.querySelectorAll("[data-count]")) setText(node, countOf(q, node.dataset.count));
    const m = q.messages || {};
    setText($("msgs"), t("msgs", { visible: m.visible ?? 0, in_flight: m.in_flight ?? 0, dead: m.dead ?? 0 }));
    const active = [
      ...(q.processing || []).map((j) => ({ ...j, status: "processing" })),
      ...(q.queue || []).map((j, i) => ({ ...j, status: "queued", position: i + 1 })),
      ...(q.awaiting_upload || []).map((j) => ({ ...j, status: "awaiting_upload" })),
    ];
    syncKeyed($("jobs-active"), activeRows, active, (j) => j.id, createJobRow, updateJobRow);
    $("active-empty").hidden = active.length > 0;
    renderHistory();
    renderUploads();
  }

  /** Finished lists hold the newest HISTORY_LIMIT only: a full one means "at least". */
  function countOf(q, list) {
    const n = (q[list] || []).length;
    const capped = ["completed", "failed", "cancelled"].includes(list) && n >= HISTORY_LIMIT;
    return capped ? `${n}+` : String(n);
  }

  function renderHistory() {
    const tab = state.historyTab;
    const status = { completed: "done", failed: "error", cancelled: "cancelled" }[tab];
    const needle = $("history-filter").value.trim().toLowerCase();
    const items = ((state.queue && state.queue[tab]) || [])
      .filter((j) => !needle || `${j.filename} ${j.id}`.toLowerCase().includes(needle))
      .map((j) => ({ ...j, status }));
    syncKeyed($("jobs-history"), historyRows, items, (j) => j.id, createJobRow, updateJobRow);
    $("history-empty").hidden = items.length > 0;
    markSelected("[data-tab]", "aria-selected", (btn) => btn.dataset.tab === tab);
  }

  function createJobRow(job, id) {
    const row = el("div", "job");
    row.dataset.task = id;
    row.tabIndex = 0;
    const main = el("div", "main");
    main.append(el("div", "title"), el("div", "sub"));
    const info = el("div", "info");
    info.append(el("span", "info-text"), makeBar());
    row.append(el("span", "dot"), main, info, el("div", "actions"));
    return row;
  }

  function updateJobRow(row, job) {
    const statusChanged = row.dataset.status !== job.status;
    setAttr(row, "data-status", job.status);
    setAttr(row, "aria-current", state.selectedId === job.id ? "true" : null);
    setAttr(row, "title", `${job.id} · ${statusLabel(job.status)}`);
    setText(row.querySelector(".title"), job.filename || job.id);
    setText(row.querySelector(".sub"), jobSubline(job));
    setText(row.querySelector(".info-text"), jobInfo(job));
    const bar = row.querySelector(".bar");
    bar.hidden = job.status !== "processing";
    if (job.status === "processing") {
      setBar(bar, reported(state.progress.get(job.id)));
    }
    if (statusChanged || row.dataset.lang !== lang) {
      row.dataset.lang = lang;
      row.querySelector(".actions").replaceChildren(...jobActions(job));
    }
  }

  function jobSubline(job) {
    const parts = [job.model_name, job.device, statusLabel(job.status)];
    if (job.error && job.status !== "cancelled") parts.push(job.error);
    return parts.filter(Boolean).join(" · ");
  }

  function jobInfo(job) {
    switch (job.status) {
      case "processing": {
        const fraction = reported(state.progress.get(job.id));
        const pct = fraction === null ? "" : `${Math.round(fraction * 100)}% · `;
        return pct + fmtDuration(sinceNow(job.started_at));
      }
      case "queued": {
        const waited = t("job.waiting", { time: fmtDuration(sinceNow(job.created_at)) });
        return `${t("job.position", { n: job.position })} · ${waited}`;
      }
      case "awaiting_upload": return fmtClock(job.created_at);
      case "done": {
        const took = t("job.took", { time: fmtDuration(secondsBetween(job.started_at, job.completed_at)) });
        return `${fmtClock(job.completed_at)} · ${took}`;
      }
      default: return fmtClock(job.completed_at || job.created_at);
    }
  }

  function jobActions(job) {
    const buttons = [];
    if (!TERMINAL.has(job.status)) buttons.push(actionButton("cancel", job, "btn btn-danger btn-xs"));
    if (job.status === "error" || job.status === "cancelled") {
      buttons.push(actionButton("retry", job, "btn btn-ghost btn-xs"));
    }
    return buttons;
  }

  function actionButton(action, job, className) {
    const button = el("button", className, t(`action.${action}`));
    button.type = "button";
    button.dataset.action = action;
    button.setAttribute("aria-label", `${t(`action.${action}`)}: ${job.filename || job.id}`);
    return button;
  }

  function bindJobLists() {
    for (const list of [$("jobs-active"), $("jobs-history")]) {
      list.addEventListener("click", onJobClick);
      list.addEventListener("keydown", (e) => {
        if (e.key === "Enter" && e.target.dataset.task) selectTask(e.target.dataset.task);
      });
    }
    for (const btn of document.querySelectorAll("[data-tab]")) {
      btn.addEventListener("click", () => { state.historyTab = btn.dataset.tab; renderHistory(); });
    }
    $("history-filter").addEventListener("input", renderHistory);
  }

  function onJobClick(event) {
    const row = event.target.closest(".job");
    if (!row) return;
    const action = event.target.closest("[data-action]");
    if (action) {
      action.disabled = true;
      const name = row.querySelector(".title").textContent;
      (action.dataset.action === "cancel" ? cancelTask : retryTask)(row.dataset.task, name)
        .finally(() => { action.disabled = false; });
    } else {
      selectTask(row.dataset.task);
    }
  }

  async function cancelTask(id, name) {
    try {
      await api(`api/tasks/${id}`, { method: "DELETE" });
      toast(t("toast.cancelled", { name }), "ok");
      if (state.selectedId === id) await refreshSelected(true);
    } catch (error) {
      showError(error);
    }
    refreshNow();
  }

  async function retryTask(id, name) {
    try {
      const body = await api(`api/tasks/${id}/retry`, { method: "POST" });
      toast(t("toast.retried", { name }), "ok");
      selectTask(body.task_id);
    } catch (error) {
      showError(error);
    }
    refreshNow();
  }

  // ---------------------------------------------------------------- result viewer
  let renderedTextFor = null;
  let renderedSegmentsFor = null;

  function selectTask(id) {
    if (state.selectedId !== id) {
      state.selectedId = id;
      state.selected = null;
      renderedTextFor = null;
      renderedSegmentsFor = null;
    }
    for (const rows of [activeRows, historyRows]) {
      for (const [key, row] of rows) setAttr(row, "aria-current", key === id ? "true" : null);
    }
    renderViewer();
    refreshSelected(true).catch(showError);
  }

  function renderViewer() {
    const s = state.selected;
    const viewer = $("viewer");
    $("viewer-empty").hidden = Boolean(state.selectedId);
    $("viewer-body").hidden = !s;
    const badge = $("viewer-status");
    setText(badge, s ? statusLabel(s.status) : "");
    setAttr(badge, "data-status", s ? s.status : null);
    setAttr(viewer, "data-status", s ? s.status : "");
    setAttr(viewer, "data-task", s ? s.task_id : null);
    if (!s) return;
    setText($("viewer-file"), s.filename || s.task_id);
    renderMeta(s);
    renderViewerProgress(s);
    const errorBox = $("viewer-error");
    errorBox.hidden = !(s.error && s.status !== "done");
    setText(errorBox, s.error || "");
    $("viewer-cancel").hidden = TERMINAL.has(s.status);
    $("viewer-retry").hidden = !(s.status === "error" || s.status === "cancelled");
    $("viewer-copy").hidden = s.status !== "done";
    renderDownloads(s);
    renderTranscript(s);
  }

  function renderViewerProgress(s) {
    const bar = $("viewer-progress");
    bar.hidden = s.status !== "processing";
    if (s.status === "processing") setBar(bar, reported(s));
  }

  function renderMeta(s) {
    const rows = [
      ["meta.task", s.task_id.slice(0, 12)],
      ["meta.model", s.model_name],
      ["meta.device", s.device],
      ["meta.language", s.language],
      ["meta.duration", fmtDuration(s.audio_duration)],
      ["meta.size", fmtBytes(s.file_size)],
      ["meta.up_speed", s.up_speed && s.up_speed !== 1 ? `${s.up_speed}×` : ""],
      ["meta.created", fmtClock(s.created_at)],
      ["meta.queue_time", fmtDuration(s.queue_time)],
      ["meta.processing_time", fmtDuration(s.processing_time)],
      ["meta.progress", s.status === "processing" && reported(s) !== null ? `${Math.round(reported(s) * 100)}%` : ""],
      ["meta.attempts", s.attempts > 1 ? String(s.attempts) : ""],
    ].filter(([, value]) => value);
    const meta = $("viewer-meta");
    syncKeyed(meta, metaRows, rows, ([key]) => key, createMetaRow, (node, [key, value]) => {
      setText(node.firstChild, t(key));
      setText(node.lastChild, value);
      setAttr(node.lastChild, "title", key === "meta.task" ? s.task_id : value);
    });
  }

  const metaRows = new Map();

  function createMetaRow() {
    const wrap = el("div");
    wrap.append(el("dt"), el("dd"));
    return wrap;
  }

  function renderDownloads(s) {
    const box = $("viewer-downloads");
    box.hidden = s.status !== "done";
    if (box.dataset.task === s.task_id) return;
    box.dataset.task = s.task_id;
    box.replaceChildren(...FORMATS.map((ext) => {
      const link = el("a", "btn btn-ghost btn-sm", ext);
      link.href = `api/result/${s.task_id}.${ext}`;
      link.download = `${(s.filename || s.task_id).replace(/\.[^.]+$/, "")}.${ext}`;
      link.dataset.format = ext;
      link.addEventListener("click", downloadWithKey);
      return link;
    }));
  }

  /** A plain link can't send the API key: with a key, fetch the file and save it from memory. */
  async function downloadWithKey(event) {
    if (!auth.key) return;
    event.preventDefault();
    const link = event.currentTarget;
    try {
      const response = await fetch(link.href, { headers: authHeaders() });
      if (!response.ok) throw new ApiError(response.status, parseBody(await response.text()));
      const url = URL.createObjectURL(await response.blob());
      const temp = el("a");
      temp.href = url;
      temp.download = link.download;
      temp.click();
      setTimeout(() => URL.revokeObjectURL(url), 10000);
    } catch (error) {
      showError(error instanceof ApiError ? error : new ApiError(0, null));
    }
  }

  function renderTranscript(s) {
    const text = $("viewer-text");
    const segments = $("viewer-segments");
    text.hidden = state.viewerTab !== "text";
    segments.hidden = state.viewerTab !== "segments";
    const textKey = `${s.task_id}:${s.status}:${lang}`;
    if (renderedTextFor !== textKey) {
      renderedTextFor = textKey;
      text.dataset.placeholder = s.status === "done" ? t("viewer.no_text") : t("viewer.waiting");
      setText(text, s.status === "done" ? (s.result || "").trim() : "");
    }
    const segmentKey = `${s.task_id}:${(s.segments || []).length}`;
    if (renderedSegmentsFor !== segmentKey) {
      renderedSegmentsFor = segmentKey;
      segments.replaceChildren(...(s.segments || []).map(segmentItem));
    }
    markSelected("[data-view]", "aria-selected", (btn) => btn.dataset.view === state.viewerTab);
  }

  function segmentItem(segment) {
    const item = el("li");
    const stamp = `${fmtStamp(segment.start)} → ${fmtStamp(segment.end)}`;
    item.append(el("span", "ts", stamp), el("span", "", (segment.text || "").trim()));
    return item;
  }

  function bindViewer() {
    for (const btn of document.querySelectorAll("[data-view]")) {
      btn.addEventListener("click", () => {
        state.viewerTab = btn.dataset.view;
        renderViewer();
      });
    }
    $("viewer-cancel").addEventListener("click", () => {
      const s = state.selected;
      if (s) cancelTask(s.task_id, s.filename || s.task_id);
    });
    $("viewer-retry").addEventListener("click", () => {
      const s = state.selected;
      if (s) retryTask(s.task_id, s.filename || s.task_id);
    });
    $("viewer-copy").addEventListener("click", copyText);
  }

  async function copyText() {
    const text = $("viewer-text").textContent;
    try {
      await navigator.clipboard.writeText(text);
    } catch {
      // No clipboard API outside secure contexts (plain http on a LAN address): select the text instead.
      const range = document.createRange();
      range.selectNodeContents($("viewer-text"));
      const selection = window.getSelection();
      selection.removeAllRanges();
      selection.addRange(range);
      document.execCommand("copy");
    }
    toast(t("viewer.copied"), "ok");
  }

  // ---------------------------------------------------------------- GPUs and models
  const gpuRows = new Map();

  function renderGpus() {
    const gpus = Array.isArray(state.gpus) ? state.gpus : [];
    syncKeyed($("gpus"), gpuRows, gpus, (g) => `${g.host}/${g.id}`, createGpu, updateGpu);
    $("gpus-empty").hidden = gpus.length > 0;
  }

  function createGpu() {
    const card = el("div", "gpu");
    const head = el("div", "gpu-head");
    head.append(el("span", "gpu-name"), el("span", "gpu-host"));
    card.append(head, gpuRow("mem"), gpuRow("util"), el("div", "gpu-foot"));
    return card;
  }

  function gpuRow(kind) {
    const row = el("div", "gpu-row");
    row.dataset.kind = kind;
    row.append(el("span", "label"), makeBar(), el("span", "val"));
    return row;
  }

  function updateGpu(card, gpu) {
    setText(card.querySelector(".gpu-name"), `#${gpu.id} ${gpu.name || ""}`);
    setAttr(card.querySelector(".gpu-name"), "title", gpu.name || null);
    setText(card.querySelector(".gpu-host"), gpu.host || "");
    const total = gpu.memory_total_mb || 0;
    const used = gpu.memory_used_mb || 0;
    const mem = card.querySelector('[data-kind="mem"]');
    setText(mem.querySelector(".label"), t("gpu.memory"));
    setBar(mem.querySelector(".bar"), total ? used / total : 0, true);
    setText(mem.querySelector(".val"), `${(used / 1024).toFixed(1)} / ${(total / 1024).toFixed(1)} GB`);
    const util = card.querySelector('[data-kind="util"]');
    setText(util.querySelector(".label"), t("gpu.util"));
    const pct = typeof gpu.utilization_gpu === "number" ? gpu.utilization_gpu : null;
    setBar(util.querySelector(".bar"), pct === null ? 0 : pct / 100, true);
    setText(util.querySelector(".val"), pct === null ? "—" : `${Math.round(pct)}%`);
    const foot = [
      typeof gpu.temperature_c === "number" ? `${Math.round(gpu.temperature_c)} °C` : "",
      typeof gpu.power_w === "number" ? `${Math.round(gpu.power_w)} W` : "",
    ].filter(Boolean).join(" · ");
    setText(card.querySelector(".gpu-foot"), foot);
  }

  let modelsShape = "";

  function renderModels() {
    const data = state.models && typeof state.models === "object" ? state.models : {};
    const devices = Object.keys(data).sort();
    const names = [...new Set(devices.flatMap((d) => Object.keys(data[d])))].sort(compareModels);
    const shape = `${lang}|${devices.join(",")}|${names.join(",")}`;
    const table = $("models");
    if (shape !== modelsShape) {
      modelsShape = shape;
      buildModelsTable(table, devices, names);
    }
    for (const cell of table.querySelectorAll("[data-model]")) {
      const value = (data[cell.dataset.device] || {})[cell.dataset.model] || "not_downloaded";
      setAttr(cell, "data-state", value);
      setText(cell, t(`state.${value}`));
      setAttr(cell, "title", `${cell.dataset.device} · ${cell.dataset.model}: ${value}`);
    }
    $("models-empty").hidden = devices.length > 0;
    table.hidden = devices.length === 0;
  }

  // tiny < base < small < medium < large, then anything else by name.
  function compareModels(a, b) {
    const order = ["tiny", "base", "small", "medium", "large", "turbo"];
    const rank = (n) => { const i = order.findIndex((o) => n.startsWith(o)); return i < 0 ? order.length : i; };
    return rank(a) - rank(b) || a.localeCompare(b);
  }

  function buildModelsTable(table, devices, names) {
    const head = el("tr");
    head.append(el("th", "", t("models.device")), ...names.map((n) => el("th", "", n)));
    table.tHead.replaceChildren(head);
    table.tBodies[0].replaceChildren(...devices.map((device) => {
      const row = el("tr");
      row.append(el("th", "", device === "cpu" ? "CPU" : /^\d+$/.test(device) ? `GPU ${device}` : device));
      for (const name of names) {
        const td = el("td");
        const cell = el("span", "mstate");
        cell.dataset.device = device;
        cell.dataset.model = name;
        td.append(cell);
        row.append(td);
      }
      return row;
    }));
  }

  // ---------------------------------------------------------------- logs
  const logRows = new Map();

  function logKey(event) {
    return `${event.ts ?? event.time}|${event.source ?? ""}|${event.msg}`;
  }

  function renderLogs() {
    const box = $("logs");
    const events = Array.isArray(state.logs) ? state.logs : [];
    const follow = $("logs-follow").checked;
    syncKeyed(box, logRows, events, logKey, createLogRow, updateLogRow);
    applyLogFilter();
    if (follow) box.scrollTop = box.scrollHeight;
  }

  function createLogRow(event) {
    const row = el("div", "log");
    row.dataset.level = (event.level || "INFO").toUpperCase();
    const message = el("span", "m", event.msg);
    if (event.job_id) {
      const open = el("button", "", event.job_id.slice(0, 8));
      open.type = "button";
      open.dataset.open = event.job_id;
      message.append(open);
    }
    row.dataset.search = `${event.msg} ${event.source || ""} ${event.job_id || ""}`.toLowerCase();
    row.append(el("span", "t"), el("span", "lv", row.dataset.level), el("span", "src", event.source || ""), message);
    return row;
  }

  function updateLogRow(row, event) {
    setText(row.firstChild, fmtClock(event.ts ?? event.time));
  }

  function applyLogFilter() {
    const needle = $("logs-filter").value.trim().toLowerCase();
    const minimum = LEVELS[$("logs-level").value] || 0;
    for (const row of logRows.values()) {
      const level = LEVELS[row.dataset.level] ?? LEVELS.INFO;
      row.hidden = level < minimum || (needle !== "" && !row.dataset.search.includes(needle));
    }
  }

  function bindLogs() {
    const box = $("logs");
    $("logs-filter").addEventListener("input", applyLogFilter);
    $("logs-level").addEventListener("change", applyLogFilter);
    box.addEventListener("click", (e) => { if (e.target.dataset.open) selectTask(e.target.dataset.open); });
    // Scrolling up to read stops following the tail; scrolling back to the bottom resumes it.
    box.addEventListener("scroll", () => {
      $("logs-follow").checked = box.scrollHeight - box.scrollTop - box.clientHeight < 24;
    });
    $("logs-follow").addEventListener("change", (e) => { if (e.target.checked) box.scrollTop = box.scrollHeight; });
  }

  // ---------------------------------------------------------------- start
  function start() {
    applyI18n();
    for (const btn of document.querySelectorAll(".lang-btn")) {
      btn.addEventListener("click", () => setLang(btn.dataset.lang));
    }
    bindKeyBar();
    bindUpload();
    bindJobLists();
    bindViewer();
    bindLogs();
    document.addEventListener("visibilitychange", () => (document.hidden ? setConn("paused") : refreshNow()));
    tick();
  }

  start();
})();
