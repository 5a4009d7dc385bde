import CCurl

/// Which libcurl a `CurlTransport` calls. libcurl is not linked: CCurl opens it with `dlopen` when the
/// first request needs it, so a run that never talks to AWS does not load it and its dependencies.
enum CurlLibrary: Sendable {
    /// `libcurl.so.4`, opened and `curl_global_init`-ed once per process (CCurl's `pthread_once`).
    case shared
    /// A library opened by name, without `curl_global_init`. For tests of the failure path only: they
    /// name a library that does not exist.
    case named(String)

    /// libcurl's function table, or the one-line reason it cannot be had (which names the library and
    /// the Debian package to install).
    func load() throws(TransportError) -> OpaquePointer {
        switch self {
        case .shared:
            guard let table = migrator_curl_shared() else {
                throw TransportError(kind: .configuration, message: String(cString: migrator_curl_shared_error()))
            }
            return table
        case .named(let name):
            var reason = [CChar](repeating: 0, count: 512)
            guard let table = migrator_curl_open(name, &reason, reason.count) else {
                throw TransportError(
                    kind: .configuration, message: reason.withUnsafeBufferPointer { String(cString: $0.baseAddress!) })
            }
            return table
        }
    }
}

/// HTTP(S) over libcurl. libcurl only carries the bytes: the request arrives already signed, because
/// `CURLOPT_AWS_SIGV4` in the libcurl we ship (Debian 12) has signing bugs.
struct CurlTransport: HTTPTransport {
    /// `AWS_CA_BUNDLE`: a PEM file that replaces the system trust store, as in the AWS SDKs.
    var caBundle: String?
    /// Upper bound on a response body. A secret is at most 64 KiB; anything much larger is not AWS.
    var maxResponseBytes = 1 << 20
    /// `.shared` except in the tests of a missing libcurl.
    var library: CurlLibrary = .shared

    /// Loads libcurl (once per process for `.shared`), so that a missing library is reported before
    /// the first request.
    func prepare() throws(TransportError) {
        _ = try library.load()
    }

    func send(_ request: HTTPRequest) throws(TransportError) -> HTTPResponse {
        let curl = try library.load()
        guard let handle = migrator_curl_easy_init(curl) else {
            throw TransportError(kind: .configuration, message: "libcurl could not create a handle")
        }
        defer { migrator_curl_easy_cleanup(curl, handle) }

        let accumulator = ResponseAccumulator(limit: maxResponseBytes)
        let context = Unmanaged.passUnretained(accumulator).toOpaque()
        let errorBuffer = UnsafeMutablePointer<CChar>.allocate(capacity: Int(CURL_ERROR_SIZE) + 1)
        errorBuffer.initialize(repeating: 0, count: Int(CURL_ERROR_SIZE) + 1)
        defer { errorBuffer.deallocate() }

        var headerList: UnsafeMutablePointer<curl_slist>? = nil
        defer { migrator_curl_slist_free_all(curl, headerList) }
        for header in request.headers {
            // A CR or LF in a value would let it smuggle a second header; ours never contain one.
            guard !header.name.contains(where: \.isNewline), !header.value.contains(where: \.isNewline) else {
                throw TransportError(kind: .configuration, message: "header \(header.name) contains a line break")
            }
            headerList = migrator_curl_slist_append(curl, headerList, "\(header.name): \(header.value)")
        }
        // Without this libcurl may add `Expect: 100-continue` and wait a second for an answer.
        headerList = migrator_curl_slist_append(curl, headerList, "Expect:")

        // The first refusal, named: libcurl is opened at run time and may be older than the headers
        // this was built with (an option it does not know yet).
        var setupFailure: CURLcode?
        func check(_ code: CURLcode) {
            if code != CURLE_OK && setupFailure == nil { setupFailure = code }
        }
        check(migrator_curl_setopt_string(curl, handle, CURLOPT_URL, request.url))
        check(migrator_curl_restrict_protocols(curl, handle))
        // Signals would be the only way libcurl's resolver timeout works in a multi-threaded process,
        // and they are unsafe there; the threaded resolver honours the timeout without them.
        check(migrator_curl_setopt_long(curl, handle, CURLOPT_NOSIGNAL, 1))
        check(migrator_curl_setopt_long(curl, handle, CURLOPT_CONNECTTIMEOUT_MS, request.timeouts.connect.milliseconds))
        check(migrator_curl_setopt_long(curl, handle, CURLOPT_TIMEOUT_MS, request.timeouts.total.milliseconds))
        check(migrator_curl_setopt_long(curl, handle, CURLOPT_SSL_VERIFYPEER, 1))
        check(migrator_curl_setopt_long(curl, handle, CURLOPT_SSL_VERIFYHOST, 2))
        check(migrator_curl_setopt_long(curl, handle, CURLOPT_FOLLOWLOCATION, 0))
        check(migrator_curl_setopt_string(curl, handle, CURLOPT_USERAGENT, "migrator"))
        if let caBundle {
            check(migrator_curl_setopt_string(curl, handle, CURLOPT_CAINFO, caBundle))
        }
        if request.bypassProxy {
            check(migrator_curl_setopt_string(curl, handle, CURLOPT_NOPROXY, "*"))
        }
        check(migrator_curl_setopt_pointer(curl, handle, CURLOPT_ERRORBUFFER, errorBuffer))
        check(migrator_curl_setopt_slist(curl, handle, CURLOPT_HTTPHEADER, headerList))
        check(migrator_curl_setopt_writefunction(curl, handle, curlWriteCallback))
        check(migrator_curl_setopt_pointer(curl, handle, CURLOPT_WRITEDATA, context))
        check(migrator_curl_setopt_headerfunction(curl, handle, curlHeaderCallback))
        check(migrator_curl_setopt_pointer(curl, handle, CURLOPT_HEADERDATA, context))

        switch request.method {
        case "GET":
            check(migrator_curl_setopt_long(curl, handle, CURLOPT_HTTPGET, 1))
        default:
            // POSTFIELDS with an explicit size sends exactly these bytes (a signed body must not change)
            // and a Content-Length even when empty, which the IMDSv2 token PUT needs.
            check(migrator_curl_setopt_postfieldsize(curl, handle, request.body.count))
            if request.body.isEmpty {
                check(migrator_curl_setopt_string(curl, handle, CURLOPT_COPYPOSTFIELDS, ""))
            } else {
                request.body.withUnsafeBytes { buffer in
                    // COPYPOSTFIELDS copies now, so the buffer need not outlive this closure.
                    check(
                        migrator_curl_setopt_pointer(
                            curl, handle, CURLOPT_COPYPOSTFIELDS, UnsafeMutableRawPointer(mutating: buffer.baseAddress))
                    )
                }
            }
            if request.method != "POST" {
                check(migrator_curl_setopt_string(curl, handle, CURLOPT_CUSTOMREQUEST, request.method))
            }
        }
        if let setupFailure {
            throw TransportError(
                kind: .configuration,
                message: "libcurl rejected an option (\(request.method) request): "
                    + String(cString: migrator_curl_easy_strerror(curl, setupFailure)))
        }

        let result = withExtendedLifetime(accumulator) { migrator_curl_easy_perform(curl, handle) }
        guard result == CURLE_OK else {
            throw Self.error(for: result, detail: String(cString: errorBuffer), accumulator: accumulator, curl: curl)
        }
        var status = 0
        _ = migrator_curl_getinfo_long(curl, handle, CURLINFO_RESPONSE_CODE, &status)
        return HTTPResponse(status: status, headers: accumulator.headers, body: accumulator.body)
    }

    private static func error(
        for code: CURLcode, detail: String, accumulator: ResponseAccumulator, curl: OpaquePointer
    ) -> TransportError {
        let text = detail.isEmpty ? String(cString: migrator_curl_easy_strerror(curl, code)) : detail
        switch code {
        case CURLE_OPERATION_TIMEDOUT:
            return TransportError(kind: .timeout, message: "timed out: \(text)")
        case CURLE_PEER_FAILED_VERIFICATION, CURLE_SSL_CONNECT_ERROR, CURLE_SSL_CERTPROBLEM,
            CURLE_SSL_PINNEDPUBKEYNOTMATCH, CURLE_SSL_INVALIDCERTSTATUS:
            return TransportError(kind: .tlsVerification, message: "TLS verification failed: \(text)")
        case CURLE_SSL_CACERT_BADFILE:
            return TransportError(kind: .configuration, message: "AWS_CA_BUNDLE could not be used: \(text)")
        case CURLE_UNSUPPORTED_PROTOCOL, CURLE_URL_MALFORMAT:
            return TransportError(kind: .configuration, message: "bad endpoint URL: \(text)")
        case CURLE_WRITE_ERROR where accumulator.overflowed:
            return TransportError(kind: .responseTooLarge, message: "response larger than \(accumulator.limit) bytes")
        default:
            return TransportError(kind: .network, message: text)
        }
    }
}

extension Duration {
    /// Whole milliseconds, at least 1 (libcurl reads 0 as "no timeout").
    fileprivate var milliseconds: Int {
        let (seconds, attoseconds) = components
        return max(1, Int(seconds) * 1000 + Int(attoseconds / 1_000_000_000_000_000))
    }
}

/// Collects what libcurl's callbacks hand over. Only touched on the thread running curl_easy_perform.
private final class ResponseAccumulator {
    let limit: Int
    var body: [UInt8] = []
    var headers: [HTTPHeader] = []
    var overflowed = false

    init(limit: Int) {
        self.limit = limit
    }
}

private func curlWriteCallback(
    data: UnsafeMutablePointer<CChar>?, size: Int, count: Int, context: UnsafeMutableRawPointer?
) -> Int {
    guard let context else { return 0 }
    let accumulator = Unmanaged<ResponseAccumulator>.fromOpaque(context).takeUnretainedValue()
    let length = size * count
    guard accumulator.body.count + length <= accumulator.limit else {
        accumulator.overflowed = true
        return 0  // libcurl stops the transfer with CURLE_WRITE_ERROR
    }
    if let data, length > 0 {
        accumulator.body.append(contentsOf: UnsafeRawBufferPointer(start: data, count: length))
    }
    return length
}

private func curlHeaderCallback(
    data: UnsafeMutablePointer<CChar>?, size: Int, count: Int, context: UnsafeMutableRawPointer?
) -> Int {
    guard let context else { return 0 }
    let accumulator = Unmanaged<ResponseAccumulator>.fromOpaque(context).takeUnretainedValue()
    let length = size * count
    guard let data, length > 0 else { return length }
    let line = String(decoding: UnsafeRawBufferPointer(start: data, count: length), as: UTF8.self)
        .trimmingCharacters(in: " \t\r\n")
    if line.hasPrefix("HTTP/") {
        // A new status line (after `100 Continue`, say) starts a new header block.
        accumulator.headers.removeAll()
    } else if let colon = line.firstIndex(of: ":") {
        let name = String(line[..<colon]).trimmingCharacters(in: " \t")
        let value = String(line[line.index(after: colon)...]).trimmingCharacters(in: " \t")
        if accumulator.headers.count < 200 {
            accumulator.headers.append(HTTPHeader(name, value))
        }
    }
    return length
}

extension String {
    /// Trim a small fixed set of characters; FoundationEssentials has no CharacterSet trimming.
    func trimmingCharacters(in set: String) -> String {
        let scalars = Set(set.unicodeScalars)
        var view = Substring(self).unicodeScalars
        while let first = view.first, scalars.contains(first) { view.removeFirst() }
        while let last = view.last, scalars.contains(last) { view.removeLast() }
        return String(view)
    }
}
