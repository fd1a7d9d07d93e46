// Small progressive enhancements; every page works without this file.
document.addEventListener("DOMContentLoaded", () => {
  // Filters apply as soon as a select changes.
  document.querySelectorAll("form.filters select").forEach((select) => {
    select.addEventListener("change", () => select.form.requestSubmit());
  });
  // Only one recording plays at a time.
  document.addEventListener("play", (event) => {
    document.querySelectorAll("audio").forEach((audio) => {
      if (audio !== event.target) audio.pause();
    });
  }, true);
  // Destructive forms ask first (without JavaScript they post straight away).
  document.querySelectorAll("form[data-confirm]").forEach((form) => {
    form.addEventListener("submit", (event) => {
      if (!window.confirm(form.dataset.confirm)) event.preventDefault();
    });
  });
  // Template previews follow what is typed, with the same example values and the same
  // placeholder check as the server's preview.
  document.querySelectorAll("textarea[data-preview]").forEach((area) => {
    const out = document.getElementById(area.dataset.preview)?.querySelector(".preview-text");
    if (!out) return;
    const fallback = out.textContent;
    const samples = {
      name: "Jordan", business: area.dataset.business, date: "Wed, Dec 2",
      time: "10:30 AM", staff: "Dr. Patel",
    };
    area.addEventListener("input", () => {
      const text = area.value.trim();
      if (!text) { out.textContent = fallback; return; }
      const unknown = [...text.matchAll(/\{([^}]*)\}/g)].map((m) => m[1]).find((n) => !(n in samples));
      if (unknown !== undefined) {
        out.textContent = `This template uses {${unknown}}, which is not a placeholder.`;
      } else if (/\{[^}]*$/.test(text)) {
        out.textContent = "This template has a { without its }.";
      } else {
        out.textContent = text.replace(/\{(\w+)\}/g, (_, n) => samples[n]);
      }
    });
  });
  // Focus the first invalid field after a failed submit.
  const invalid = document.querySelector('[aria-invalid="true"]');
  if (invalid) invalid.focus();
});
