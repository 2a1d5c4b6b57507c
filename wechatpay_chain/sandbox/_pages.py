"""The HTML, CSS and JavaScript of the sandbox's dashboard and cashier (`_cashier`): static text, no build step,
no external asset, so the pages work on a machine without internet.

Every value a request put there is escaped: the cashier is rendered on the server with `html.escape` on each
value, and the dashboard builds its DOM in the browser with `textContent` only (never `innerHTML` with data).
The pages load their style and script from `/_sandbox/assets/` (same origin) under a Content-Security-Policy
without 'unsafe-inline', so even a markup mistake could not run an injected script.
"""

from __future__ import annotations

from html import escape
from typing import Optional, Sequence, Tuple

__all__ = [
    "STYLE",
    "SCRIPT",
    "DASHBOARD_CSP",
    "CASHIER_CSP",
    "amount_text",
    "document",
    "dashboard_html",
    "cashier_body",
    "notice_body",
]

#: the dashboard: script and style from this origin only, fetch to this origin only, never framed
DASHBOARD_CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
                 "base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
#: the cashier runs no script at all; its forms post to this origin (no form-action: H5's cancel redirects away)
CASHIER_CSP = "default-src 'none'; style-src 'self'; img-src 'self'; base-uri 'none'; frame-ancestors 'none'"

_SYMBOLS = {"CNY": "\u00a5"}


def amount_text(total: int, currency: str = "CNY") -> str:
    """Fen to the displayed amount: 1 -> '¥0.01', 123456 -> '¥1,234.56'; other currencies by code ('USD 1.00')."""
    sign = "-" if total < 0 else ""
    whole, cents = divmod(abs(int(total)), 100)
    prefix = _SYMBOLS.get(currency, f"{currency} ")
    return f"{sign}{prefix}{whole:,}.{cents:02d}"


def document(title: str, body: str, *, script: bool = False) -> str:
    """A whole page around `body` (already escaped HTML); `title` is escaped here."""
    js = '<script src="/_sandbox/assets/app.js" defer></script>' if script else ""
    return (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<title>{escape(title)}</title><link rel="stylesheet" href="/_sandbox/assets/style.css">{js}'
        f"</head><body>{body}</body></html>\n"
    )


def _rows(pairs: Sequence[Tuple[str, str]]) -> str:
    return "".join(f"<dt>{escape(k)}</dt><dd>{escape(v)}</dd>" for k, v in pairs)


def _hidden(redirect_url: Optional[str]) -> str:
    if not redirect_url:
        return ""
    return f'<input type="hidden" name="redirect_url" value="{escape(redirect_url, quote=True)}">'


def cashier_body(
    merchant: str, description: str, amount: str, facts: Sequence[Tuple[str, str]], action: str,
    redirect_url: Optional[str],
) -> str:
    """The cashier with its Pay and Cancel buttons; `action` is the order's cashier path (already URL-quoted)."""
    act = escape(action, quote=True)
    return (
        '<main class="cashier"><p class="merchant" id="merchant">' + escape(merchant) + "</p>"
        f'<p class="amount" id="amount">{escape(amount)}</p>'
        f'<p class="description" id="description">{escape(description)}</p>'
        f'<dl class="facts">{_rows(facts)}</dl>'
        f'<form method="post" action="{act}/pay">{_hidden(redirect_url)}'
        f'<button type="submit" id="pay" class="pay">Pay {escape(amount)}</button></form>'
        f'<form method="post" action="{act}/cancel">{_hidden(redirect_url)}'
        '<button type="submit" id="cancel" class="cancel">Cancel</button></form>'
        '<p class="foot"><a href="/_sandbox/">Sandbox dashboard</a></p></main>'
    )


def notice_body(
    merchant: str, description: str, amount: str, facts: Sequence[Tuple[str, str]], kind: str, heading: str,
    lines: Sequence[str], links: Sequence[Tuple[str, str]] = (),
) -> str:
    """An outcome (`kind` 'ok', 'warn' or 'error'): paid, cancelled, or why the order cannot be paid."""
    paragraphs = "".join(f"<p>{escape(line)}</p>" for line in lines)
    anchors = "".join(f'<a href="{escape(href, quote=True)}">{escape(text)}</a> ' for href, text in links)
    return (
        '<main class="cashier"><p class="merchant" id="merchant">' + escape(merchant) + "</p>"
        f'<p class="amount" id="amount">{escape(amount)}</p>'
        f'<p class="description" id="description">{escape(description)}</p>'
        f'<section id="outcome" class="outcome {escape(kind, quote=True)}" data-kind="{escape(kind, quote=True)}">'
        f"<h1>{escape(heading)}</h1>{paragraphs}</section>"
        f'<dl class="facts">{_rows(facts)}</dl>'
        f'<p class="foot">{anchors}<a href="/_sandbox/">Sandbox dashboard</a></p></main>'
    )


def _table(ident: str, title: str, columns: Sequence[str]) -> str:
    heads = "".join(f"<th>{escape(c)}</th>" for c in columns)
    return (f'<section><h2>{escape(title)}</h2><table><thead><tr>{heads}</tr></thead>'
            f'<tbody id="{ident}"></tbody></table></section>')


def dashboard_html(merchant: str) -> str:
    """The dashboard's skeleton; `/_sandbox/assets/app.js` fills the tables from `/_sandbox/state` every second."""
    body = (
        f'<header><h1>WeChat Pay sandbox</h1><p id="merchant">{escape(merchant)}</p>'
        '<p id="live" class="live">connecting\u2026</p></header><main class="dashboard">'
        + _table("orders", "Orders", ["out_trade_no", "description", "amount", "state", "type", "created",
                                      "pay as the payer"])
        + _table("notifications", "Notifications (click one for its decrypted resource)",
                 ["time", "out_trade_no", "target URL", "attempts", "outcome", "last status"])
        + '<pre id="resource" class="resource" hidden></pre>'
        + _table("refunds", "Refunds", ["out_refund_no", "out_trade_no", "refund", "status", "created"])
        + _table("requests", "Request log", ["time", "method", "path", "status", "Request-ID"])
        + "</main>"
    )
    return document("WeChat Pay sandbox", body, script=True)


STYLE = """\
body{font:15px/1.45 system-ui,-apple-system,"Segoe UI","PingFang SC","Microsoft YaHei",sans-serif;margin:0;
color:#1a1a1a;background:#f4f5f7}
header{background:#07c160;color:#fff;padding:12px 24px}header h1{margin:0;font-size:20px}
header p{margin:2px 0}.live{font-size:12px;opacity:.85}
.dashboard{padding:8px 24px 40px}section{margin:18px 0}h2{font-size:16px;margin:0 0 6px}
table{border-collapse:collapse;width:100%;background:#fff}th,td{border:1px solid #e3e5e8;padding:4px 8px;
text-align:left;vertical-align:top;font-size:13px;overflow-wrap:anywhere}th{background:#fafbfc}
tr.click{cursor:pointer}tr.click:hover{background:#f0faf4}td img{width:132px;height:132px;display:block}
.state-SUCCESS{color:#07c160;font-weight:600}.state-CLOSED{color:#888}.state-REFUND{color:#b26a00}
.resource{background:#1e1e1e;color:#d4d4d4;padding:12px;overflow:auto;max-height:360px;font-size:12px}
.cashier{max-width:420px;margin:32px auto;background:#fff;border-radius:8px;padding:24px;
box-shadow:0 1px 4px rgba(0,0,0,.08);text-align:center}
.merchant{color:#555;margin:0}.amount{font-size:36px;font-weight:600;margin:12px 0 4px}
.description{color:#333;margin:0 0 16px;word-break:break-all}
.facts{text-align:left;font-size:13px;color:#555;display:grid;grid-template-columns:auto 1fr;gap:2px 12px}
.facts dt{color:#888}.facts dd{margin:0;word-break:break-all}
form{margin:10px 0}button{width:100%;padding:12px;font-size:16px;border-radius:6px;border:0;cursor:pointer}
.pay{background:#07c160;color:#fff}.cancel{background:#f2f2f2;color:#333}
.outcome{border-radius:6px;padding:8px 12px;margin:12px 0;text-align:left}.outcome h1{font-size:18px;margin:4px 0}
.ok{background:#e8f8ef}.warn{background:#fff6e0}.error{background:#fdecec}.foot a{margin:0 6px}
"""

SCRIPT = """\
"use strict";
(function () {
  var seen = {};
  function el(tag, text, cls) {
    var node = document.createElement(tag);
    if (text !== undefined && text !== null) { node.textContent = String(text); }
    if (cls) { node.className = cls; }
    return node;
  }
  function at(seconds) { return seconds ? new Date(seconds * 1000).toLocaleTimeString() : ""; }
  function link(href, text) {
    var a = el("a", text);
    if (href.indexOf("/_sandbox/") === 0) { a.href = href; }
    return a;
  }
  function fill(id, rows, render) {
    var key = JSON.stringify(rows);
    if (seen[id] === key) { return; }
    seen[id] = key;
    var body = document.getElementById(id);
    while (body.firstChild) { body.removeChild(body.firstChild); }
    rows.forEach(function (row) { body.appendChild(render(row)); });
  }
  function cells(tr, values) { values.forEach(function (v) { tr.appendChild(el("td", v)); }); return tr; }
  function order(o) {
    var tr = cells(el("tr"), [o.out_trade_no, o.description, o.amount]);
    tr.id = "order-" + o.out_trade_no;
    tr.appendChild(el("td", o.state, "state state-" + o.state));
    cells(tr, [o.trade_type, o.created]);
    var pay = el("td");
    if (o.qr) {
      var img = el("img");
      img.src = o.qr;
      img.alt = "QR code of " + o.code_url;
      img.title = o.code_url;
      pay.appendChild(img);
    }
    pay.appendChild(link(o.cashier, o.trade_type === "NATIVE" ? "open the cashier (the QR's URL)" : "cashier"));
    tr.appendChild(pay);
    return tr;
  }
  function notification(n) {
    var tr = cells(el("tr"), [at(n.time), n.out_trade_no, n.url, n.attempts,
      n.outcome + (n.error ? ": " + n.error : ""), n.status === null ? "" : n.status]);
    tr.className = "click";
    tr.addEventListener("click", function () {
      var pre = document.getElementById("resource");
      pre.textContent = JSON.stringify(n.resource, null, 2);
      pre.hidden = false;
    });
    return tr;
  }
  function refund(r) { return cells(el("tr"), [r.out_refund_no, r.out_trade_no, r.amount, r.status, r.created]); }
  function request(r) { return cells(el("tr"), [at(r.time), r.method, r.path, r.status, r.request_id]); }
  function tick() {
    fetch("/_sandbox/state", {cache: "no-store", credentials: "same-origin"}).then(function (resp) {
      if (!resp.ok) { throw new Error("HTTP " + resp.status); }
      return resp.json();
    }).then(function (state) {
      fill("orders", state.orders, order);
      fill("notifications", state.notifications, notification);
      fill("refunds", state.refunds, refund);
      fill("requests", state.requests, request);
      document.getElementById("live").textContent = "updated " + new Date().toLocaleTimeString();
    }).catch(function (err) {
      document.getElementById("live").textContent = "the sandbox does not answer (" + err.message + ")";
    }).then(function () { window.setTimeout(tick, 1000); });
  }
  tick();
}());
"""
