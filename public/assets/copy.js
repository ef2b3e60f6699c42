// The copy button is the one thing on these pages that needs JavaScript; without it the URL is still selectable text.
document.addEventListener('DOMContentLoaded', function () {
  document.querySelectorAll('[data-copy-target]').forEach(function (button) {
    const field = document.getElementById(button.getAttribute('data-copy-target'));
    const status = document.getElementById('copy-status');
    if (!field) return;
    button.hidden = false;
    button.addEventListener('click', function () {
      field.select();
      const done = function (message) { if (status) status.textContent = message; };
      if (navigator.clipboard && navigator.clipboard.writeText) {
        navigator.clipboard.writeText(field.value).then(function () { done('Copied.'); }, function () { done('Press Ctrl+C (or ⌘C) to copy the selected URL.'); });
      } else {
        done('Press Ctrl+C (or ⌘C) to copy the selected URL.');
      }
    });
  });
});
