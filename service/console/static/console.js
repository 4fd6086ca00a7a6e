// credchain console: small progressive enhancements (the pages work without them, except the
// invoice hash, computed here so that the file never leaves the browser).
"use strict";

// Exact decimal -> minor units as a BigInt (never a float): null if not an amount.
function toMinor(text, exponent) {
  const cleaned = String(text).trim().replace(/^[A-Z]{3}\s*/, "").replace(/^[¥€£$]\s*/, "").replace(/,/g, "");
  const m = /^(\d+)(?:\.(\d+))?$/.exec(cleaned);
  if (!m) return null;
  const frac = m[2] || "";
  if (frac.length > exponent) return null;
  return BigInt(m[1]) * 10n ** BigInt(exponent) + BigInt(frac.padEnd(exponent, "0") || "0");
}

function formatMinor(value, exponent) {
  const neg = value < 0n; let v = neg ? -value : value;
  const scale = 10n ** BigInt(exponent);
  const whole = (v / scale).toString().replace(/\B(?=(\d{3})+(?!\d))/g, ",");
  const frac = exponent ? "." + (v % scale).toString().padStart(exponent, "0") : "";
  return (neg ? "-" : "") + whole + frac;
}

// The split form: the parts' sum against the note's amount, live.
function initSplit(form) {
  const exponent = Number(form.dataset.exponent);
  const total = BigInt(form.dataset.total);
  const out = form.querySelector(".sum-check");
  const update = () => {
    let sum = 0n; let bad = false;
    form.querySelectorAll("input[data-part-amount]").forEach((input) => {
      if (input.value.trim() === "") return;
      const v = toMinor(input.value, exponent);
      if (v === null) bad = true; else sum += v;
    });
    const left = total - sum;
    out.textContent = bad ? out.dataset.invalid
      : (left === 0n ? out.dataset.ok : out.dataset.left.replace("{left}", formatMinor(left, exponent)));
    out.classList.toggle("good", !bad && left === 0n);
    out.classList.toggle("bad", bad || left !== 0n);
  };
  form.addEventListener("input", update);
  update();
}

// The issue form: SHA-256 of the picked invoice file, computed here (WebCrypto), never uploaded.
function initDocumentHash(input) {
  const target = document.getElementById(input.dataset.hashTarget);
  const status = document.getElementById(input.dataset.hashStatus);
  input.addEventListener("change", async () => {
    const file = input.files && input.files[0];
    if (!file) return;
    const digest = await crypto.subtle.digest("SHA-256", await file.arrayBuffer());
    target.value = "0x" + Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
    status.textContent = status.dataset.done.replace("{name}", file.name);
  });
}

document.addEventListener("DOMContentLoaded", () => {
  document.querySelectorAll("form[data-split]").forEach(initSplit);
  document.querySelectorAll("input[data-hash-target]").forEach(initDocumentHash);
  // a write form is sent once: its button is disabled after the first click (the form's
  // Idempotency-Key makes a second submission harmless anyway)
  document.querySelectorAll("form[method=post]").forEach((form) => {
    form.addEventListener("submit", () => {
      form.querySelectorAll("button[type=submit]").forEach((b) => setTimeout(() => { b.disabled = true; }, 0));
    });
  });
});
