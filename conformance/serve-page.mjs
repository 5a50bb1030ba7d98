// Serves skyway.js and a blank page that loads it on 127.0.0.1 (of the network namespace it runs
// in), and prints the page's URL as its first line. The relay scenarios (netns.test.mjs) start
// it inside a browser's namespace, where the suite's own page server cannot be reached.
//
//   ip netns exec NS node conformance/serve-page.mjs

import { serveSdkPage } from './browser.mjs';

const BLANK_PAGE =
  '<!doctype html><html><head><meta charset="utf-8"><title>relay</title>' +
  '<script src="/skyway.js"></script></head><body></body></html>';

const { url } = await serveSdkPage(BLANK_PAGE);
console.log(url);
