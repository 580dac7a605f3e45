// The export page's one behaviour: its "Print" button (inline handlers are barred by the CSP).
document.getElementById("print")?.addEventListener("click", () => window.print());
