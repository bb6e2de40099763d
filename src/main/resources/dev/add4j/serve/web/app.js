// add4j serve: redraw the student's images as the user types or draws. Plain JS, no build step.
'use strict';

const $ = (id) => document.getElementById(id);
const DEBOUNCE_MS = 250;   // one request per pause in typing, not one per key
const N = 4;               // images per request: a 2x2 grid

let info = null;
let timer = null;
let sent = 0;              // id of the latest student request sent
let shown = 0;             // id of the request whose images are on screen: older answers are stale
let teacherSent = 0;

let hasImage = false;       // the pad holds a drawing or an upload: requests are image to image
let drawing = null;        // the pointer's last point while a stroke is drawn

function body(model, steps) {
  const req = { prompt: $('prompt').value, steps, seed: seedValue(), n: N, model };
  if (hasImage) {
    req.init_image = $('pad').toDataURL('image/png').split(',')[1];   // the pad as it is shown, without "data:...,"
    req.strength = Number($('strength').value);
  }
  return req;
}

function seedValue() {
  const v = Number.parseInt($('seed').value, 10);
  return Number.isFinite(v) ? v : 0;
}

async function post(req) {
  const r = await fetch('/api/generate', {
    method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(req),
  });
  let json = null;
  try { json = await r.json(); } catch (e) { /* a proxy's HTML error page: reported below */ }
  return { ok: r.ok, status: r.status, retryAfter: Number(r.headers.get('Retry-After') || 1), json };
}

function render(grid, images, prompt) {
  const imgs = images.map((b64, i) => {
    const img = new Image(info.image_size, info.image_size);   // the model's side; RGB or grey as the PNG is
    img.src = 'data:image/png;base64,' + b64;
    img.alt = `${prompt || '(no prompt)'}, image ${i + 1}`;
    return img;
  });
  grid.replaceChildren(...imgs);
  grid.dataset.prompt = prompt;
}

// the strength as the server read it from the request: what the page shows was made at it
function markStrength(grid, j) {
  grid.dataset.strength = j.strength === undefined ? '' : String(j.strength);
}

function timingText(j) {
  const steps = `${j.steps} step${j.steps === 1 ? '' : 's'}`;
  const batch = j.batch_images > j.images.length ? ` · batched with others (${j.batch_images} images)` : '';
  const strength = j.strength === undefined ? '' : ` · strength ${j.strength}`;
  return `${j.ms_per_image.toFixed(1)} ms per image · ${j.images.length} images · ${steps}${strength} · seed ${j.seed} · ${j.ms_total.toFixed(0)} ms total${batch}`;
}

function setStatus(text, error) {
  $('status').textContent = text || '\u00a0';
  $('status').classList.toggle('error', !!error);
}

// prompts from the models' data, so a user sees what it covers; a click draws one
function showExamples(examples) {
  if (examples.length === 0) return;
  $('prompt').placeholder = `type a prompt, e.g. ${examples[0]}`;
  const box = $('examples');
  examples.forEach((text, i) => {
    const b = document.createElement('button');
    b.type = 'button';
    b.className = 'example';
    b.textContent = text;
    b.addEventListener('click', () => { $('prompt').value = text; generate(); });
    if (i > 0) box.append(' ');
    box.append(b);
  });
  box.hidden = false;
}

function schedule() {
  clearTimeout(timer);
  timer = setTimeout(generate, DEBOUNCE_MS);
}

async function generate() {
  const id = ++sent;
  const req = body('student', Number($('steps').value));
  $('grid').classList.add('busy');
  let res;
  try {
    res = await post(req);
  } catch (e) {
    if (id === sent) setStatus('cannot reach the server: ' + e.message, true);
    return;
  }
  if (id < shown) return;                       // stale: a newer answer is already on screen
  if (id === sent) $('grid').classList.remove('busy');
  if (!res.ok) {
    if (res.status === 503 && id === sent) {    // queue full: try again, unless the user typed since
      setStatus('server busy, retrying…');
      setTimeout(() => { if (id === sent) generate(); }, res.retryAfter * 1000);
      return;
    }
    if (id === sent) setStatus((res.json && res.json.error) || `HTTP ${res.status}`, true);
    return;
  }
  shown = id;
  history.replaceState(null, '', '?' + new URLSearchParams({ prompt: req.prompt, steps: req.steps, seed: req.seed }));
  render($('grid'), res.json.images, req.prompt);
  markStrength($('grid'), res.json);
  $('timing').textContent = timingText(res.json);
  setStatus('');
}

async function teacher() {
  const steps = Number($('teacher-steps').value);
  const id = ++teacherSent;
  const req = body('teacher', steps);
  $('teacher-run').disabled = true;
  $('teacher-timing').textContent = `teacher at ${steps} steps…`;
  try {
    const res = await post(req);
    if (id !== teacherSent) return;
    if (!res.ok) {
      $('teacher-timing').textContent = (res.json && res.json.error) || `HTTP ${res.status}`;
      return;
    }
    render($('teacher-grid'), res.json.images, req.prompt);
    markStrength($('teacher-grid'), res.json);
    $('teacher-timing').textContent = timingText(res.json);
  } catch (e) {
    $('teacher-timing').textContent = 'cannot reach the server: ' + e.message;
  } finally {
    if (id === teacherSent) $('teacher-run').disabled = false;
  }
}

function teacherLabel() {
  $('teacher-run').textContent = `teacher at ${$('teacher-steps').value} steps`;
}

// steps x strength >= 1 (the server's rule, diffusers'): each slider moves the other where needed, visibly
function fitSteps() {
  if (!hasImage) return;
  const s = Number($('strength').value), steps = $('steps');
  if (Number(steps.value) * s < 1 - 1e-6) {
    steps.value = String(Math.min(Number(steps.max), Math.ceil(1 / s - 1e-6)));
    $('steps-out').textContent = steps.value;
  }
}

function fitStrength() {
  if (!hasImage) return;
  const steps = Number($('steps').value), st = $('strength');
  if (steps * Number(st.value) < 1 - 1e-6) {
    st.value = String(Math.ceil(20 / steps - 1e-6) / 20);
    $('strength-out').textContent = Number(st.value).toFixed(2);
  }
}

function setHasImage(v) {
  hasImage = v;
  $('pad-state').textContent = v ? 'image to image: the pad is the input' : 'draw or upload for image to image';
  fitSteps();
}

function clearPad() {
  const ctx = $('pad').getContext('2d');
  ctx.fillStyle = '#000';   // Fashion-MNIST's background: light objects on black
  ctx.fillRect(0, 0, $('pad').width, $('pad').height);
}

function padPoint(e) {
  const pad = $('pad'), r = pad.getBoundingClientRect();
  return { x: (e.clientX - r.left) * pad.width / r.width, y: (e.clientY - r.top) * pad.height / r.height };
}

function stroke(from, to) {
  const ctx = $('pad').getContext('2d');
  ctx.strokeStyle = $('colour').value;   // white unless an RGB model lets the user pick
  ctx.lineWidth = Number($('brush').value);
  ctx.lineCap = 'round';
  ctx.lineJoin = 'round';
  ctx.beginPath();
  ctx.moveTo(from.x, from.y);
  ctx.lineTo(to.x, to.y);
  ctx.stroke();
  if (!hasImage) setHasImage(true);
  schedule();   // redrawn as you draw, at the typing debounce
}

function setUpPad() {
  const pad = $('pad');
  clearPad();
  // pointer events: mouse, pen and touch alike
  pad.addEventListener('pointerdown', (e) => {
    pad.setPointerCapture(e.pointerId);
    drawing = padPoint(e);
    stroke(drawing, drawing);   // a click is a dot
  });
  pad.addEventListener('pointermove', (e) => {
    if (!drawing) return;
    const p = padPoint(e);
    stroke(drawing, p);
    drawing = p;
  });
  for (const end of ['pointerup', 'pointercancel']) pad.addEventListener(end, () => { drawing = null; });
  $('clear').addEventListener('click', () => { clearPad(); setHasImage(false); generate(); });
  $('upload').addEventListener('change', async () => {
    const file = $('upload').files[0];
    if (!file) return;
    let bitmap;
    try {
      bitmap = await createImageBitmap(file);   // decoded here: the page sends the pad, never the file
    } catch (e) {
      setStatus(`cannot read ${file.name}: not a PNG or JPEG image`, true);
      return;
    }
    clearPad();
    const k = Math.min(pad.width / bitmap.width, pad.height / bitmap.height);   // fit, keeping the aspect
    const w = bitmap.width * k, h = bitmap.height * k;
    pad.getContext('2d').drawImage(bitmap, (pad.width - w) / 2, (pad.height - h) / 2, w, h);
    $('upload').value = '';
    setHasImage(true);
    schedule();
  });
  $('strength').addEventListener('input', () => {
    $('strength-out').textContent = Number($('strength').value).toFixed(2);
    fitSteps();
    if (hasImage) schedule();
  });
}

async function start() {
  try {
    info = await (await fetch('/api/info')).json();
  } catch (e) {
    setStatus('cannot reach the server: ' + e.message, true);
    return;
  }
  const s = info.models.student, t = info.models.teacher;
  $('shape').textContent = `${info.channels === 3 ? 'RGB' : 'grey'}, ${info.image_size}\u00a0px`;
  $('colour-label').hidden = info.channels !== 3;   // a grey model reads only the strokes' lightness
  $('steps').max = String(s.max_steps);
  $('prompt').maxLength = info.limits.max_chars;
  showExamples(info.examples || []);
  $('student-title').textContent = s.kind === 'student' ? 'student' : 'fast model';
  $('student-file').textContent = s.kind === 'student'
    ? `${s.file} · ${s.sampler} · 1-${s.max_steps} steps`
    : `${s.file} · no student yet: the teacher, ${s.sampler} · 1-${s.max_steps} steps`;
  $('teacher-file').textContent = `${t.file} · ${t.sampler}`;
  const select = $('teacher-steps');
  select.replaceChildren(...info.compare_steps.filter((n) => n <= t.max_steps).map((n) => new Option(String(n), String(n))));
  select.value = String(info.compare_steps.includes(t.default_steps) ? t.default_steps : info.compare_steps[0]);
  // a link can carry the state: ?prompt=a+bag&steps=2&seed=7&teacher=25 (teacher: run the comparison at once)
  const q = new URLSearchParams(location.search);
  if (q.has('prompt')) $('prompt').value = q.get('prompt');
  if (q.has('steps')) { $('steps').value = q.get('steps'); $('steps-out').textContent = $('steps').value; }
  if (q.has('seed')) $('seed').value = q.get('seed');
  if (q.has('teacher') && info.compare_steps.includes(Number(q.get('teacher')))) select.value = q.get('teacher');
  teacherLabel();
  setUpPad();

  $('prompt').addEventListener('input', schedule);
  $('steps').addEventListener('input', () => { $('steps-out').textContent = $('steps').value; fitStrength(); schedule(); });
  $('seed').addEventListener('input', schedule);
  $('new-seed').addEventListener('click', () => {
    $('seed').value = String(Math.floor(Math.random() * 2 ** 31));
    generate();
  });
  select.addEventListener('change', teacherLabel);
  $('teacher-run').addEventListener('click', teacher);
  await generate();
  if (q.has('teacher')) teacher();   // after the fast images: the worker runs requests in order
}

start();
