// The supervisors' dashboard. Plain JavaScript, no libraries: everything it needs is served
// by this server (the intranets it runs on have no way out). It calls the JSON API with the
// token the supervisor entered, kept in sessionStorage for this tab only.
"use strict";

const TOKEN_KEY = "fundtrail.token";
const LANG_KEY = "fundtrail.lang";
const SVG = "http://www.w3.org/2000/svg";

const TEXT = {
  zh: {
    title: "计生特殊家庭专项资金台账", signin: "登录", signin_button: "登录", signout: "退出",
    signin_help: "请输入主管令牌（supervisor）。令牌只保存在本浏览器标签页中。",
    by_subdistrict: "各街道发放合计", trend: "月度发放趋势", funds: "资金结余",
    checkpoint: "最新签名检查点", subdistrict: "街道", program: "项目", amount: "金额(元)",
    payments: "笔数", households: "户数", persons: "人次", allocated: "已拨付(元)",
    disbursed: "已支出(元)", remaining: "结余(元)", total: "合计", loading: "正在加载…",
    as_of: "数据截至第 {seq} 条记录", no_data: "（无数据）", switch: "English",
    no_checkpoint: "暂无签名检查点", head: "当前链头", size: "记录数", root: "根哈希",
    origin: "来源", verifies: "验证结果", verified: "验证通过", not_verified: "验证失败",
    bad_token: "令牌无效或已撤销", wrong_role: "此令牌无权查看汇总（需要主管或审计角色）",
    failed: "加载失败：", pivot_help: "金额(元)，按街道与项目；合计列含笔数、户数与人次。", footer: "数据来自只追加、哈希链接的台账；金额为扣除冲正后的净额。",
    household: "户情查询", look_up: "查询", masked_help: "姓名与身份证号均已脱敏；明文仅管理员可调阅，且每次调阅均记录在账。",
    person_id: "人员编号", role: "身份", name: "姓名", id_number: "身份证号", birth_date: "出生日期",
    joined_on: "入户日期", person_state: "状态", community: "社区", category: "类别", members: "登记人数",
    enrolled_on: "登记日期", no_persons: "尚未登记人员（按登记人数计发）", in_household: "在户",
    died: "{date} 去世", left: "{date} 迁出", erased: "个人信息已销毁", not_found: "查无此户",
    role_mother: "母亲", role_father: "父亲", role_child: "子女", role_other: "其他",
    findings: "审计疑点", open_findings: "未结疑点", at_risk: "涉及金额(元)", recovered: "已追缴(元)",
    rule: "规则", open_count: "未结", unknown_place: "（未知街道）",
    findings_help: "审计规则对全部记录的核查结果；规则编号固定，明细见 fundtrail findings。",
    witnesses: "见证方", witness_name: "见证方", witness_url: "地址", witness_size: "已联署记录数",
    witness_state: "状态", quorum: "法定人数", quorum_of: "{k} / {n}", no_witnesses: "未配置见证方",
    last_cosigned: "最近达到法定人数的检查点", none_yet: "尚无", beyond: "链头超出（条）",
    witness_ok: "正常", witness_alarm_short: "警报：",
    witness_alarm: "警报：有见证方看到了本台账的另一段历史。查明原因之前，请勿信任此后的检查点。",
    witness_help: "见证方（审计局、财政局、纪委）各自核对每个检查点是否延续其上次联署的检查点；达到法定人数的联署可防止台账向不同单位展示不同的历史。",
  },
  en: {
    title: "Special-family subsidy ledger", signin: "Sign in", signin_button: "Sign in", signout: "Sign out",
    signin_help: "Enter a supervisor token. It is kept in this browser tab only.",
    by_subdistrict: "Totals by sub-district", trend: "Monthly trend", funds: "Fund balances",
    checkpoint: "Latest signed checkpoint", subdistrict: "Sub-district", program: "Program",
    amount: "Amount (CNY)", payments: "Payments", households: "Households", persons: "Person-times",
    allocated: "Allocated", disbursed: "Disbursed", remaining: "Remaining", total: "Total",
    loading: "Loading…", as_of: "As of event {seq}", no_data: "(no rows)", switch: "中文",
    no_checkpoint: "No signed checkpoint yet", head: "Current head", size: "Events", root: "Root hash",
    origin: "Origin", verifies: "Verification", verified: "verifies", not_verified: "does NOT verify",
    bad_token: "Unknown or revoked token", wrong_role: "This token may not read totals (supervisor or auditor needed)",
    failed: "Loading failed: ", pivot_help: "Amounts in CNY by sub-district and program; the total columns add payments, households and person-times.", footer: "From an append-only, hash-chained ledger; amounts are net of reversals.",
    household: "Household", look_up: "Look up", masked_help: "Names and identity numbers are masked; only an admin may see them in clear, and every such look is recorded.",
    person_id: "Person", role: "Role", name: "Name", id_number: "Identity number", birth_date: "Born",
    joined_on: "Joined", person_state: "State", community: "Community", category: "Category", members: "Members recorded",
    enrolled_on: "Enrolled", no_persons: "No persons recorded (paid by the members count)", in_household: "in the household",
    died: "died {date}", left: "left {date}", erased: "personal data erased", not_found: "No such household",
    role_mother: "mother", role_father: "father", role_child: "child", role_other: "other",
    findings: "Audit findings", open_findings: "Open findings", at_risk: "At risk (CNY)",
    recovered: "Recovered (CNY)", rule: "Rule", open_count: "Open", unknown_place: "(unknown)",
    findings_help: "What the audit rules raise over the whole record; rule ids are fixed, details in fundtrail findings.",
    witnesses: "Witnesses", witness_name: "Witness", witness_url: "URL", witness_size: "Cosigned size",
    witness_state: "State", quorum: "Quorum", quorum_of: "{k} of {n}", no_witnesses: "No witnesses configured",
    last_cosigned: "Last checkpoint with its quorum", none_yet: "none yet", beyond: "Head beyond it (events)",
    witness_ok: "ok", witness_alarm_short: "ALARM: ",
    witness_alarm: "ALARM: a witness was shown another history of this ledger. Do not trust its checkpoints until this is explained.",
    witness_help: "Witnesses (audit bureau, finance bureau, inspection office) each check that every checkpoint extends the one they cosigned last; a quorum of cosignatures keeps the ledger from showing different offices different histories.",
  },
};

// The audit rules (projections/src/findings, pinned ids), in the order the API lists them.
const RULES = {
  paid_after_death: ["死亡后仍发放", "Paid after death"],
  paid_after_exit: ["退出后仍发放", "Paid after exit"],
  allowance_over_due: ["超出应发标准", "Allowance over due"],
  duplicate_payment: ["重复发放", "Paid twice"],
  shared_account: ["多户共用账户", "Account shared by households"],
  outlier_amount: ["金额明显偏高", "Amount far above peers"],
};

// The program catalog (src/domain.rs PROGRAMS).
const PROGRAMS = {
  support_allowance: ["扶助金", "Support allowance"],
  holiday_condolence: ["节日慰问金", "Holiday condolence"],
  accident_insurance: ["意外伤害保险", "Accident insurance"],
  nursing_insurance: ["护理险", "Nursing insurance"],
  housekeeping_service: ["家政服务卡", "Housekeeping card"],
  smart_bracelet: ["智慧手环", "Smart bracelet"],
  transit_card: ["爱心公交卡", "Transit card"],
  micro_wish: ["微心愿", "Micro wish"],
};

let lang = "zh";
let data = null;
let household = null;

const $ = (id) => document.getElementById(id);
const t = (key) => TEXT[lang][key] || key;
const programName = (code) => (PROGRAMS[code] ? PROGRAMS[code][lang === "zh" ? 0 : 1] : code);

// "1234567.80" -> "1,234,567.80", on the string: money never becomes a float for display.
function money(text) {
  const [whole, fraction] = String(text).split(".");
  const sign = whole.startsWith("-") ? "-" : "";
  const digits = whole.replace("-", "").replace(/\B(?=(\d{3})+(?!\d))/g, ",");
  return sign + digits + (fraction !== undefined ? "." + fraction : "");
}

function el(tag, text, className) {
  const node = document.createElement(tag);
  if (text !== undefined) node.textContent = text;
  if (className) node.className = className;
  return node;
}

function svg(tag, attrs, text) {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  if (text !== undefined) node.textContent = text;
  return node;
}

class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

async function api(path) {
  const token = sessionStorage.getItem(TOKEN_KEY);
  const response = await fetch(path, { headers: { Authorization: "Bearer " + token } });
  const body = await response.json().catch(() => ({}));
  if (!response.ok) throw new ApiError(response.status, body.code, body.message || response.statusText);
  return body;
}

async function checkpoint() {
  try {
    return await api("/api/v1/checkpoint");
  } catch (e) {
    if (e.status === 404) return null;
    throw e;
  }
}

async function load() {
  $("state").textContent = t("loading");
  $("state").dataset.state = "loading";
  try {
    const [status, byPlace, bySubdistrict, byMonth, funds, latest, findings, witnesses] = await Promise.all([
      api("/api/v1/status"),
      api("/api/v1/totals?by=subdistrict,program"),
      api("/api/v1/totals?by=subdistrict"),
      api("/api/v1/totals?by=month"),
      api("/api/v1/funds"),
      checkpoint(),
      api("/api/v1/findings/summary"),
      api("/api/v1/witnesses"),
    ]);
    data = { status, byPlace, bySubdistrict, byMonth, funds, latest, findings, witnesses };
    render();
  } catch (e) {
    if (e.status === 401 || e.status === 403) {
      signOut(e.status === 401 ? t("bad_token") : t("wrong_role"));
      return;
    }
    $("state").textContent = t("failed") + e.message;
    $("state").dataset.state = "failed";
  }
}

function render() {
  document.documentElement.lang = lang === "zh" ? "zh-CN" : "en";
  document.title = t("title") + " · fundtrail";
  for (const node of document.querySelectorAll("[data-i18n]")) node.textContent = t(node.dataset.i18n);
  $("lang").textContent = t("switch");
  if (!data) return;
  const caller = data.status.caller;
  $("who").textContent = caller.name + " (" + caller.role + ")";
  $("state").textContent = t("as_of").replace("{seq}", data.status.head.seq);
  $("state").dataset.state = "ready";
  renderTotals(data.byPlace, data.bySubdistrict);
  renderHousehold();
  renderBars(data.bySubdistrict);
  renderTrend(data.byMonth);
  renderFunds(data.funds);
  renderFindings(data.findings);
  renderCheckpoint(data.latest, data.status.head);
  renderWitnesses(data.witnesses);
}

// The witnesses: the quorum, each one's last cosigned size and alarm, the last checkpoint
// that reached the quorum; a banner across the page when any witness holds another history.
function renderWitnesses(w) {
  $("witness-alarm").hidden = !w.alarm;
  const list = $("witness-figures");
  list.replaceChildren();
  const item = (key, value, className) => list.append(el("dt", t(key)), el("dd", value, className));
  const rows = $("witness-list").tBodies[0];
  rows.replaceChildren();
  if (w.quorum === null) {
    item("witnesses", t("no_witnesses"), "muted");
    return;
  }
  item("quorum", t("quorum_of").replace("{k}", w.quorum).replace("{n}", w.witnesses.length));
  item("last_cosigned", w.cosigned_size === null ? t("none_yet") : String(w.cosigned_size));
  if (w.beyond !== null) item("beyond", String(w.beyond));
  for (const witness of w.witnesses) {
    const tr = el("tr");
    tr.append(el("td", witness.name), el("td", witness.url), el("td", String(witness.cosigned_size), "num"));
    tr.append(witness.alarm === null
      ? el("td", t("witness_ok"), "ok")
      : el("td", t("witness_alarm_short") + witness.alarm, "bad"));
    rows.append(tr);
  }
}

// Open findings by rule and by sub-district, with the amount at risk and what was
// recovered so far: the figures come from the server as strings and are shown as they come.
function renderFindings(summary) {
  $("findings-open").textContent = String(summary.open);
  $("findings-at-risk").textContent = money(summary.amount_at_risk);
  $("findings-recovered").textContent = money(summary.recovered);
  const rules = $("findings-by-rule").tBodies[0];
  rules.replaceChildren();
  for (const r of summary.by_rule) {
    const row = rules.insertRow();
    row.dataset.rule = r.rule;
    const name = el("td", RULES[r.rule] ? RULES[r.rule][lang === "zh" ? 0 : 1] : r.rule);
    name.append(el("code", r.rule));
    row.append(name, el("td", String(r.open), "num"), el("td", money(r.amount_at_risk), "num"));
  }
  const places = $("findings-by-subdistrict").tBodies[0];
  places.replaceChildren();
  if (summary.by_subdistrict.length === 0) {
    const cell = el("td", t("no_data"), "muted");
    cell.colSpan = 3;
    places.insertRow().append(cell);
  }
  for (const p of summary.by_subdistrict) {
    const row = places.insertRow();
    row.dataset.findingsSubdistrict = p.subdistrict;
    row.append(el("td", p.subdistrict || t("unknown_place")), el("td", String(p.open), "num"),
      el("td", money(p.amount_at_risk), "num"));
  }
}

// A pivot: one row per sub-district, one column per program (amounts), then the
// sub-district's totals; the footer totals each column.
function renderTotals(rows, subtotals) {
  const programs = [...new Set(rows.map((r) => r.program))];
  const cell = new Map(rows.map((r) => [r.subdistrict + "\u0000" + r.program, r]));
  const head = $("totals").tHead;
  head.replaceChildren();
  const header = head.insertRow();
  header.append(el("th", t("subdistrict")));
  for (const p of programs) header.append(el("th", programName(p), "num"));
  header.append(el("th", t("total") + " " + t("amount"), "num total"), el("th", t("payments"), "num"),
    el("th", t("households"), "num"), el("th", t("persons"), "num"));
  const body = $("totals").tBodies[0];
  body.replaceChildren();
  if (subtotals.length === 0) {
    const row = body.insertRow();
    row.appendChild(el("td", t("no_data"))).colSpan = programs.length + 5;
  }
  for (const s of subtotals) {
    const row = body.insertRow();
    row.dataset.subdistrict = s.subdistrict;
    row.append(el("td", s.subdistrict));
    for (const p of programs) {
      const r = cell.get(s.subdistrict + "\u0000" + p);
      const td = el("td", r ? money(r.amount) : "–", "num");
      td.dataset.program = p;
      row.append(td);
    }
    row.append(el("td", money(s.amount), "num total amount"), el("td", s.payments, "num"),
      el("td", s.households, "num"), el("td", s.persons, "num"));
  }
  const foot = $("totals").tFoot;
  foot.replaceChildren();
  const row = foot.insertRow();
  row.append(el("td", t("total")));
  for (const p of programs) {
    const fen = rows.filter((r) => r.program === p).reduce((n, r) => n + toFen(r.amount), 0n);
    row.append(el("td", money(fromFen(fen)), "num"));
  }
  const fen = subtotals.reduce((n, r) => n + toFen(r.amount), 0n);
  const sum = (key) => subtotals.reduce((n, r) => n + Number(r[key]), 0);
  row.append(el("td", money(fromFen(fen)), "num total amount"), el("td", sum("payments"), "num"),
    el("td", sum("households"), "num"), el("td", sum("persons"), "num"));
  row.id = "grand-total";
}

// Exact sums of money strings, in fen, with BigInt.
function toFen(text) {
  const [whole, fraction = "00"] = String(text).split(".");
  const negative = whole.startsWith("-");
  const fen = BigInt(whole.replace("-", "")) * 100n + BigInt((fraction + "00").slice(0, 2));
  return negative ? -fen : fen;
}

function fromFen(fen) {
  const negative = fen < 0n;
  const abs = negative ? -fen : fen;
  const fraction = String(abs % 100n).padStart(2, "0");
  return (negative ? "-" : "") + String(abs / 100n) + "." + fraction;
}

function renderBars(rows) {
  const width = 720, height = 260, left = 20, bottom = 40, top = 20;
  const chart = svg("svg", { viewBox: `0 0 ${width} ${height}`, "aria-label": t("by_subdistrict") });
  const max = Math.max(1, ...rows.map((r) => Number(r.amount)));
  const slot = (width - left - 10) / Math.max(1, rows.length);
  chart.append(svg("line", { x1: left, y1: height - bottom, x2: width - 5, y2: height - bottom, class: "axis" }));
  rows.forEach((r, i) => {
    const h = ((height - bottom - top) * Number(r.amount)) / max;
    const x = left + i * slot + slot * 0.15;
    const bar = svg("rect", { x, y: height - bottom - h, width: slot * 0.7, height: h, class: "bar" });
    bar.append(svg("title", {}, `${r.subdistrict}: ${money(r.amount)}`));
    chart.append(bar);
    chart.append(svg("text", { x: x + slot * 0.35, y: height - bottom + 16, "text-anchor": "middle" }, r.subdistrict));
    chart.append(svg("text", { x: x + slot * 0.35, y: height - bottom - h - 4, "text-anchor": "middle" }, money(r.amount)));
  });
  $("bars").replaceChildren(chart);
}

function renderTrend(rows) {
  const width = 720, height = 240, left = 70, bottom = 40, top = 16, right = 40;
  const chart = svg("svg", { viewBox: `0 0 ${width} ${height}`, "aria-label": t("trend") });
  chart.append(svg("line", { x1: left, y1: height - bottom, x2: width - right, y2: height - bottom, class: "axis" }));
  chart.append(svg("line", { x1: left, y1: top, x2: left, y2: height - bottom, class: "axis" }));
  if (rows.length === 0) {
    chart.append(svg("text", { x: width / 2, y: height / 2, "text-anchor": "middle" }, t("no_data")));
    $("trend").replaceChildren(chart);
    return;
  }
  const max = Math.max(1, ...rows.map((r) => Number(r.amount)));
  const step = (width - left - right) / Math.max(1, rows.length - 1);
  const point = (r, i) => [left + (rows.length === 1 ? (width - left - right) / 2 : i * step),
    height - bottom - ((height - bottom - top) * Number(r.amount)) / max];
  const points = rows.map(point);
  chart.append(svg("polyline", { points: points.map((p) => p.join(",")).join(" "), class: "line" }));
  chart.append(svg("text", { x: left - 6, y: top + 4, "text-anchor": "end" }, money(String(Math.round(max)))));
  const every = Math.max(1, Math.ceil(rows.length / 8));
  rows.forEach((r, i) => {
    const [x, y] = points[i];
    const dot = svg("circle", { cx: x, cy: y, r: 3, class: "dot" });
    dot.append(svg("title", {}, `${r.month}: ${money(r.amount)}`));
    chart.append(dot);
    if (i % every === 0 || i === rows.length - 1) {
      chart.append(svg("text", { x, y: height - bottom + 16, "text-anchor": "middle" }, r.month));
    }
  });
  $("trend").replaceChildren(chart);
}

function renderFunds(rows) {
  const body = $("funds").tBodies[0];
  body.replaceChildren();
  for (const r of rows) {
    const row = body.insertRow();
    row.dataset.program = r.program;
    row.append(
      el("td", programName(r.program)), el("td", money(r.allocated), "num"),
      el("td", money(r.disbursed), "num"), el("td", money(r.remaining), "num"),
    );
  }
}

function renderCheckpoint(latest, head) {
  const list = $("checkpoint");
  list.replaceChildren();
  const item = (key, value, className) => list.append(el("dt", t(key)), el("dd", value, className));
  if (!latest) {
    list.append(el("dt", t("checkpoint")), el("dd", t("no_checkpoint"), "muted"));
    item("head", `${head.seq} · ${head.hash}`);
    return;
  }
  item("origin", latest.origin);
  item("size", String(latest.size));
  item("root", latest.root);
  item("verifies", latest.verified ? t("verified") : t("not_verified"), latest.verified ? "ok" : "bad");
}

// A household and its persons. Names and numbers arrive masked from the server (the one
// masking function); the page shows them as they come and never asks for more.
async function lookUpHousehold(id) {
  $("household").hidden = true;
  $("household-state").textContent = t("loading");
  $("household-state").dataset.state = "loading";
  try {
    household = await api("/api/v1/households/" + encodeURIComponent(id));
    $("household-state").textContent = "";
    $("household-state").dataset.state = "ready";
    renderHousehold();
  } catch (e) {
    household = null;
    $("household-state").textContent = e.status === 404 ? t("not_found") : t("failed") + e.message;
    $("household-state").dataset.state = "failed";
  }
}

function personState(p) {
  const states = [];
  if (p.died) states.push(t("died").replace("{date}", p.died.date));
  if (p.left) states.push(t("left").replace("{date}", p.left.date));
  if (p.erased_seq !== null) states.push(t("erased"));
  return states.length ? states.join("; ") : t("in_household");
}

function renderHousehold() {
  if (!household) return;
  const facts = $("household-facts");
  facts.replaceChildren();
  for (const key of ["community", "category", "members", "enrolled_on"]) {
    facts.append(el("dt", t(key)), el("dd", String(household[key])));
  }
  const body = $("persons").tBodies[0];
  body.replaceChildren();
  if (household.persons.length === 0) {
    const row = body.insertRow();
    const cell = el("td", t("no_persons"), "muted");
    cell.colSpan = 7;
    row.append(cell);
  }
  for (const p of household.persons) {
    const row = body.insertRow();
    row.dataset.person = p.person_id;
    row.append(
      el("td", p.person_id), el("td", t("role_" + p.role)), el("td", p.name), el("td", p.id_number),
      el("td", p.birth_date), el("td", p.joined_on), el("td", personState(p)),
    );
  }
  $("household").hidden = false;
}

function signOut(message) {
  sessionStorage.removeItem(TOKEN_KEY);
  data = null;
  household = null;
  $("household").hidden = true;
  $("household-state").textContent = "";
  $("board").hidden = true;
  $("signout").hidden = true;
  $("signin").hidden = false;
  $("who").textContent = "";
  $("signin-error").textContent = message || "";
}

function signIn(token) {
  sessionStorage.setItem(TOKEN_KEY, token.trim());
  $("signin").hidden = true;
  $("board").hidden = false;
  $("signout").hidden = false;
  $("signin-error").textContent = "";
  load();
}

// A link may carry `#token=...&lang=en` (used by tests and bookmarks on a trusted desk);
// the fragment never reaches the server, and it is removed from the address bar at once.
function fromFragment() {
  const params = new URLSearchParams(location.hash.slice(1));
  if (params.has("lang")) localStorage.setItem(LANG_KEY, params.get("lang") === "en" ? "en" : "zh");
  if (params.has("token")) sessionStorage.setItem(TOKEN_KEY, params.get("token"));
  if (params.has("household")) $("household-id").value = params.get("household");
  if (location.hash) history.replaceState(null, "", location.pathname);
}

function start() {
  fromFragment();
  lang = localStorage.getItem(LANG_KEY) === "en" ? "en" : "zh";
  $("lang").addEventListener("click", () => {
    lang = lang === "zh" ? "en" : "zh";
    localStorage.setItem(LANG_KEY, lang);
    render();
  });
  $("signout").addEventListener("click", () => signOut(""));
  $("signin-form").addEventListener("submit", (event) => {
    event.preventDefault();
    signIn($("token").value);
  });
  $("household-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const id = $("household-id").value.trim();
    if (id) lookUpHousehold(id);
  });
  render();
  const token = sessionStorage.getItem(TOKEN_KEY);
  if (token) signIn(token);
  const id = $("household-id").value.trim();
  if (token && id) lookUpHousehold(id);
}

document.addEventListener("DOMContentLoaded", start);
