// The console's entry point: the API key field, the message area, and the pages.

import { getKey, setKey } from "./api.js";
import * as gallery from "./gallery.js";
import * as job from "./job.js";
import * as jobs from "./jobs.js";
import * as models from "./models.js";
import { startRouter } from "./router.js";
import { $, clearMessage } from "./ui.js";
import * as walk from "./walk.js";

const TITLES = { gallery: "Gallery", walk: "Latent walk", jobs: "Training jobs", job: "Job", models: "Models" };

function wireKey() {
  const input = $("api-key");
  input.value = getKey();
  input.addEventListener("input", () => setKey(input.value.trim()));
  $("api-key-form").addEventListener("submit", (event) => event.preventDefault());
  $("api-key-clear").addEventListener("click", () => {
    input.value = "";
    setKey("");
    input.focus();
  });
}

wireKey();
$("message-close").addEventListener("click", clearMessage);
startRouter(
  { gallery, walk, jobs, job, models },
  {
    onChange(page) {
      clearMessage();
      document.title = `${TITLES[page] || "GAN console"} — GAN console`;
      window.scrollTo(0, 0);
    },
  },
);
