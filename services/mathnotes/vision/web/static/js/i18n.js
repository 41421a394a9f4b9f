// UI text in English and Chinese, chosen from the browser's languages.

const EN = {
  title: "Math Notes",
  history: "History",
  inputHeading: "Your notes",
  dropHint: "Take a photo of your notes, or choose, paste or drop an image.",
  takePhoto: "Take photo",
  chooseFile: "Choose image",
  task: "Task",
  task_transcribe: "Transcribe",
  task_solve: "Solve",
  task_check: "Check my work",
  task_explain: "Explain",
  language: "Answer language",
  lang_auto: "Same as notes",
  lang_zh: "Chinese",
  lang_en: "English",
  analyze: "Analyze",
  stop: "Stop",
  answer: "Answer",
  copyMarkdown: "Copy Markdown",
  copyLatex: "Copy LaTeX",
  copied: "Copied.",
  copyFailed: "Could not copy; select the text instead.",
  empty: "The answer appears here as it is written.",
  clearHistory: "Clear",
  historyEmpty: "No answers yet.",
  keyTitle: "API key needed",
  keyText: "This server asks for an API key. It is kept in this browser only.",
  keyLabel: "API key",
  cancel: "Cancel",
  save: "Save and retry",
  previewAlt: "Preview of the chosen image",
  imageInfo: "{name} · {size}",
  imageShrunk: "{name} · {from} → {to} (made smaller before upload)",
  notImage: "That file is not an image. Choose a photo or picture of your notes.",
  sending: "Uploading…",
  thinking: "Reading your notes…",
  streaming: "Writing the answer…",
  done: "Done.",
  stopped: "Stopped.",
  cached: "from cache",
  metaLine: "{model} · {seconds} s",
  tokens: "{n} tokens",
  reopened: "Answer from {when}.",
  // the history and the notes library
  searchLabel: "Search your notes",
  searchPlaceholder: "Words or a formula, e.g. \\int_0^1 x^2 dx",
  searchBy: "Search by",
  mode_auto: "Auto",
  mode_words: "Words",
  mode_formula: "Formula",
  mode_meaning: "Meaning",
  matchedBy: "found by {modes}",
  matched_words: "words",
  matched_formula: "formula",
  matched_meaning: "meaning",
  search: "Search",
  more: "More",
  enterKey: "Enter key",
  noMatches: "No notes match.",
  untitled: "Untitled page",
  src_library: "Your library on the server (every device with your key).",
  src_offline: "Offline: showing the answers kept in this browser.",
  src_key: "The library needs a valid API key: showing the answers kept in this browser.",
  src_unavailable: "The library is unavailable right now: showing the answers kept in this browser.",
  src_absent: "This server keeps no library: showing the answers kept in this browser.",
  src_error: "The library did not answer ({message}): showing the answers kept in this browser.",
  badQuery: "That search was not understood: {message}",
  opening: "Opening the note…",
  noteGone: "That note is no longer in your library.",
  noteImageAlt: "The page of this note",
  rename: "Rename",
  renameTitle: "Rename the note",
  renameLabel: "Title",
  renamed: "Renamed.",
  delete: "Delete",
  deleteConfirm: "Delete? Press again",
  deleted: "Deleted from your library.",
  // errors in plain words
  err_rate_limited: "Too many requests from you. Try again in {wait}.",
  err_rate_limited_nowait: "Too many requests from you. Try again in a little while.",
  err_too_large: "The image is too large for the server. Take the photo again closer to the page, or choose a smaller image.",
  err_image_pixels: "The image has too many pixels for the server. Choose a smaller image.",
  err_image_shape: "The image is far too long and narrow to read. Crop it to the page and try again.",
  err_bad_image: "The server could not read that image. Try another photo (JPEG or PNG).",
  err_model_unavailable: "The AI model is not available right now. Try again in a minute.",
  err_model_busy: "The AI model is busy (its provider limits requests). Try again in {wait}.",
  err_model_busy_nowait: "The AI model is busy (its provider limits requests). Try again in a minute.",
  err_model_timeout: "The AI model took too long to answer. Try again, perhaps with a smaller part of the page.",
  err_rejected: "The model provider refused this image. Try a different photo.",
  err_unauthorized: "The API key was not accepted.",
  keyNeeded: "This server needs an API key to answer. Press Analyze to enter it.",
  err_network: "Cannot reach the server. Check your connection and try again.",
  err_interrupted: "The answer broke off before it was finished. Try again.",
  err_other: "Something went wrong: {message}",
  offline: "The AI model is not available, so this is the offline text recognition (OCR) of your photo. It can only transcribe, not solve or check.",
  seconds: "{n} seconds",
  minutes: "{n} minutes",
  minute: "1 minute",
  second: "1 second",
};

const ZH = {
  title: "数学笔记",
  history: "历史记录",
  inputHeading: "你的笔记",
  dropHint: "拍一张笔记的照片，或选择、粘贴、拖入图片。",
  takePhoto: "拍照",
  chooseFile: "选择图片",
  task: "任务",
  task_transcribe: "转写",
  task_solve: "解题",
  task_check: "批改",
  task_explain: "讲解",
  language: "回答语言",
  lang_auto: "与笔记相同",
  lang_zh: "中文",
  lang_en: "英文",
  analyze: "开始识别",
  stop: "停止",
  answer: "回答",
  copyMarkdown: "复制 Markdown",
  copyLatex: "复制 LaTeX",
  copied: "已复制。",
  copyFailed: "无法复制，请手动选择文本。",
  empty: "回答会在这里逐字出现。",
  clearHistory: "清空",
  historyEmpty: "还没有回答。",
  keyTitle: "需要 API 密钥",
  keyText: "此服务器需要 API 密钥。密钥只保存在本浏览器中。",
  keyLabel: "API 密钥",
  cancel: "取消",
  save: "保存并重试",
  previewAlt: "所选图片的预览",
  imageInfo: "{name} · {size}",
  imageShrunk: "{name} · {from} → {to}（上传前已缩小）",
  notImage: "这个文件不是图片。请选择笔记的照片或图片。",
  sending: "正在上传…",
  thinking: "正在读取笔记…",
  streaming: "正在写回答…",
  done: "完成。",
  stopped: "已停止。",
  cached: "来自缓存",
  metaLine: "{model} · {seconds} 秒",
  tokens: "{n} 个 token",
  reopened: "{when} 的回答。",
  searchLabel: "搜索笔记",
  searchPlaceholder: "文字或公式，例如 \\int_0^1 x^2 dx",
  searchBy: "搜索方式",
  mode_auto: "自动",
  mode_words: "文字",
  mode_formula: "公式",
  mode_meaning: "语义",
  matchedBy: "匹配方式：{modes}",
  matched_words: "文字",
  matched_formula: "公式",
  matched_meaning: "语义",
  search: "搜索",
  more: "更多",
  enterKey: "输入密钥",
  noMatches: "没有匹配的笔记。",
  untitled: "无标题页面",
  src_library: "服务器上的笔记库（使用同一密钥的所有设备）。",
  src_offline: "离线：显示保存在本浏览器中的回答。",
  src_key: "笔记库需要有效的 API 密钥：显示保存在本浏览器中的回答。",
  src_unavailable: "笔记库暂时不可用：显示保存在本浏览器中的回答。",
  src_absent: "此服务器没有笔记库：显示保存在本浏览器中的回答。",
  src_error: "笔记库没有回应（{message}）：显示保存在本浏览器中的回答。",
  badQuery: "无法理解这次搜索：{message}",
  opening: "正在打开笔记…",
  noteGone: "这条笔记已不在笔记库中。",
  noteImageAlt: "这条笔记的页面",
  rename: "重命名",
  renameTitle: "重命名笔记",
  renameLabel: "标题",
  renamed: "已重命名。",
  delete: "删除",
  deleteConfirm: "确定删除？再按一次",
  deleted: "已从笔记库删除。",
  err_rate_limited: "请求太频繁了。请在 {wait}后重试。",
  err_rate_limited_nowait: "请求太频繁了。请稍后重试。",
  err_too_large: "图片太大，服务器无法接收。请靠近页面重新拍摄，或选择更小的图片。",
  err_image_pixels: "图片像素太多，服务器无法处理。请选择更小的图片。",
  err_image_shape: "图片过于细长，无法识别。请裁剪到页面范围后重试。",
  err_bad_image: "服务器无法读取这张图片。请换一张照片（JPEG 或 PNG）。",
  err_model_unavailable: "AI 模型暂时不可用。请一分钟后重试。",
  err_model_busy: "AI 模型繁忙（服务商限制了请求）。请在 {wait}后重试。",
  err_model_busy_nowait: "AI 模型繁忙（服务商限制了请求）。请一分钟后重试。",
  err_model_timeout: "AI 模型回答超时。请重试，或只拍页面的一部分。",
  err_rejected: "模型服务商拒绝了这张图片。请换一张照片。",
  err_unauthorized: "API 密钥无效。",
  keyNeeded: "此服务器需要 API 密钥才能回答。点击“开始识别”输入密钥。",
  err_network: "无法连接服务器。请检查网络后重试。",
  err_interrupted: "回答在完成前中断了。请重试。",
  err_other: "出错了：{message}",
  offline: "AI 模型不可用，以下是离线文字识别（OCR）的结果。它只能转写，不能解题或批改。",
  seconds: "{n} 秒",
  minutes: "{n} 分钟",
  minute: "1 分钟",
  second: "1 秒",
};

/** "zh" when the browser prefers Chinese, else "en". */
export function pickLocale(languages) {
  for (const tag of languages || []) {
    const lower = String(tag).toLowerCase();
    if (lower.startsWith("zh")) return "zh";
    if (lower.startsWith("en")) return "en";
  }
  return "en";
}

export const locale = pickLocale(typeof navigator === "undefined" ? [] : navigator.languages || [navigator.language]);
const TABLE = locale === "zh" ? ZH : EN;

/** The UI string `key` with {placeholders} filled in. */
export function t(key, params = {}) {
  const text = TABLE[key] ?? EN[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (m, name) => (name in params ? String(params[name]) : m));
}

/** A wait in seconds in words: "45 seconds", "2 minutes". */
export function waitWords(seconds) {
  const s = Math.max(1, Math.ceil(Number(seconds) || 0));
  if (s < 60) return s === 1 ? t("second") : t("seconds", { n: s });
  const m = Math.ceil(s / 60);
  return m === 1 ? t("minute") : t("minutes", { n: m });
}

const dateFormat = new Intl.DateTimeFormat(locale === "zh" ? "zh-CN" : "en", { dateStyle: "short", timeStyle: "short" });

/** A date (Date, epoch ms or ISO string) as a short local date and time. */
export function formatWhen(when) {
  const date = new Date(when);
  return Number.isNaN(date.getTime()) ? "" : dateFormat.format(date);
}

/** Fill every [data-i18n] element's text and set <html lang>. */
export function translatePage(root = document) {
  document.documentElement.lang = locale === "zh" ? "zh-CN" : "en";
  document.title = t("title");
  for (const el of root.querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n);
  for (const el of root.querySelectorAll("[data-i18n-placeholder]")) el.placeholder = t(el.dataset.i18nPlaceholder);
  for (const el of root.querySelectorAll("[data-i18n-label]")) el.setAttribute("aria-label", t(el.dataset.i18nLabel));
  for (const el of root.querySelectorAll("[data-i18n-alt]")) el.alt = t(el.dataset.i18nAlt);
}
