// Retained messages keyed by topic level, so a SUBSCRIBE walks only the branches its filter can
// match instead of testing every retained topic (aedes-persistence's in-memory reference scans
// them all on every subscribe).

class TopicNode<V> {
  children: Map<string, TopicNode<V>> | null = null;
  value: V | undefined = undefined;
  constructor(
    readonly parent: TopicNode<V> | null,
    readonly word: string,
  ) {}
}

export class RetainedTree<V> {
  #root = new TopicNode<V>(null, '');
  #size = 0;

  get size(): number {
    return this.#size;
  }

  get(topic: string): V | undefined {
    let node: TopicNode<V> | undefined = this.#root;
    for (const word of topic.split('/')) {
      node = node.children?.get(word);
      if (!node) return undefined;
    }
    return node.value;
  }

  set(topic: string, value: V): void {
    let node = this.#root;
    for (const word of topic.split('/')) {
      node.children ??= new Map();
      let child = node.children.get(word);
      if (!child) {
        child = new TopicNode(node, word);
        node.children.set(word, child);
      }
      node = child;
    }
    if (node.value === undefined) this.#size++;
    node.value = value;
  }

  delete(topic: string): boolean {
    let node: TopicNode<V> | undefined = this.#root;
    for (const word of topic.split('/')) {
      node = node.children?.get(word);
      if (!node) return false;
    }
    if (node.value === undefined) return false;
    node.value = undefined;
    this.#size--;
    // prune the now-empty branch so deleted topics cost no memory
    while (node.parent && node.value === undefined && (!node.children || node.children.size === 0)) {
      node.parent.children!.delete(node.word);
      node = node.parent;
    }
    return true;
  }

  *values(): Generator<V> {
    yield* collect(this.#root, false);
  }

  /** Values whose topic matches the MQTT filter, each once, into `out`. */
  match(filter: string, out: Set<V>): void {
    matchLevel(this.#root, filter.split('/'), 0, out);
  }
}

function matchLevel<V>(node: TopicNode<V>, words: string[], i: number, out: Set<V>): void {
  if (i === words.length) {
    if (node.value !== undefined) out.add(node.value);
    return;
  }
  const word = words[i]!;
  if (word === '#') {
    // 'a/#' also matches 'a' [MQTT-4.7.1-2]; a leading wildcard never matches '$' topics [MQTT-4.7.2-1]
    for (const v of collect(node, i === 0)) out.add(v);
    return;
  }
  if (!node.children) return;
  if (word === '+') {
    for (const [w, child] of node.children) {
      if (i === 0 && w.charCodeAt(0) === 36 /* $ */) continue;
      matchLevel(child, words, i + 1, out);
    }
    return;
  }
  const child = node.children.get(word);
  if (child) matchLevel(child, words, i + 1, out);
}

function* collect<V>(node: TopicNode<V>, skipDollar: boolean): Generator<V> {
  if (node.value !== undefined) yield node.value;
  if (!node.children) return;
  for (const [w, child] of node.children) {
    if (skipDollar && w.charCodeAt(0) === 36) continue;
    yield* collect(child, false);
  }
}
