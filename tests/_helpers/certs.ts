/** Certificates for TLS tests, made with `openssl` in a temp dir (EC P-256, quick to make). */

/** A certificate and its key, as files. */
export interface CertFiles {
  certFile: string;
  keyFile: string;
}

async function _openssl(args: string[], cwd: string): Promise<void> {
  const out = await new Deno.Command("openssl", { args, cwd, stdout: "piped", stderr: "piped" })
    .output();
  if (!out.success) {
    throw new Error(`openssl ${args.join(" ")}: ${new TextDecoder().decode(out.stderr)}`);
  }
}

/**
 * `openssl req` with a new P-256 key in `keyFile` and subject `cn`: writes a
 * certificate request to `out`, or with `-x509` among `extra` a self-signed
 * certificate.
 */
async function _req(
  dir: string,
  o: { keyFile: string; out: string; cn: string; extra?: string[] },
): Promise<void> {
  await _openssl([
    "req",
    "-newkey",
    "ec",
    "-pkeyopt",
    "ec_paramgen_curve:P-256",
    "-nodes",
    "-keyout",
    o.keyFile,
    "-out",
    o.out,
    "-subj",
    `/CN=${o.cn}`,
    ...(o.extra ?? []),
  ], dir);
}

/** A certificate authority in `dir/name.*` that signs server and client certificates. */
export class TestCa {
  private constructor(readonly dir: string, readonly name: string) {}

  /** The CA's certificate (for `cafile` / `mqtt.tls.caFile`). */
  get caFile(): string {
    return `${this.dir}/${this.name}.crt`;
  }

  /** Makes a self-signed CA named `name` in `dir`. */
  static async create(dir: string, name = "ca"): Promise<TestCa> {
    await _req(dir, {
      keyFile: `${name}.key`,
      out: `${name}.crt`,
      cn: `mandrill test ${name}`,
      extra: [
        "-x509",
        "-days",
        "2",
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign,cRLSign",
      ],
    });
    return new TestCa(dir, name);
  }

  /**
   * A certificate for `cn` signed by this CA: `dns`/`ips` as its subject
   * alternative names (a server's), `days` of validity (-1: already expired).
   */
  async issue(
    file: string,
    cn: string,
    options: { dns?: string[]; ips?: string[]; days?: number; client?: boolean } = {},
  ): Promise<CertFiles> {
    const files = { certFile: `${this.dir}/${file}.crt`, keyFile: `${this.dir}/${file}.key` };
    await _req(this.dir, { keyFile: files.keyFile, out: `${file}.csr`, cn });
    const san = [
      ...(options.dns ?? []).map((d) => `DNS:${d}`),
      ...(options.ips ?? []).map((i) => `IP:${i}`),
    ];
    const ext = [
      "basicConstraints=CA:FALSE",
      `extendedKeyUsage=${options.client ? "clientAuth" : "serverAuth"}`,
      ...(san.length > 0 ? [`subjectAltName=${san.join(",")}`] : []),
    ];
    await Deno.writeTextFile(`${this.dir}/${file}.ext`, ext.join("\n") + "\n");
    await _openssl([
      "x509",
      "-req",
      "-in",
      `${file}.csr`,
      "-CA",
      this.caFile,
      "-CAkey",
      `${this.name}.key`,
      "-CAcreateserial",
      "-out",
      files.certFile,
      "-days",
      String(options.days ?? 2),
      "-extfile",
      `${file}.ext`,
    ], this.dir);
    return files;
  }
}
