import CCurl
import SystemSupport

/// HTTP(S) over libcurl. libcurl only carries the bytes: the request arrives already signed, because
/// `CURLOPT_AWS_SIGV4` in the libcurl we ship (Debian 12) has signing bugs.
struct CurlTransport: HTTPTransport {
    /// `AWS_CA_BUNDLE`: a PEM file that replaces the system trust store, as in the AWS SDKs.
    var caBundle: String?
    /// Upper bound on a response body. A secret is at most 64 KiB; anything much larger is not AWS.
    var maxResponseBytes = 1 << 20
    /// A stop request cuts a transfer short within `pollInterval` and refuses new ones.
    var interruption: Interruption?

    /// How often a running transfer looks at `interruption`.
    static let pollInterval: Int32 = 100

    func send(_ request: HTTPRequest) throws(TransportError) -> HTTPResponse {
        try Self.globalInit.get()
        if let reason = interruption?.reason {
            throw TransportError(kind: .interrupted, message: "not sent: stopped by \(reason.signalName)")
        }
        guard let handle = curl_easy_init() else {
            throw TransportError(kind: .configuration, message: "libcurl could not create a handle")
        }
        defer { curl_easy_cleanup(handle) }

        let accumulator = ResponseAccumulator(limit: maxResponseBytes)
        let context = Unmanaged.passUnretained(accumulator).toOpaque()
        let errorBuffer = UnsafeMutablePointer<CChar>.allocate(capacity: Int(CURL_ERROR_SIZE) + 1)
        errorBuffer.initialize(repeating: 0, count: Int(CURL_ERROR_SIZE) + 1)
        defer { errorBuffer.deallocate() }

        let headerList = try Self.headerList(request.headers)
        defer { curl_slist_free_all(headerList) }
        if let setupFailure = configure(
            handle, for: request, headers: headerList, errorBuffer: errorBuffer, context: context)
        {
            throw TransportError(
                kind: .configuration,
                message: "libcurl rejected an option (\(request.method) request): "
                    + String(cString: curl_easy_strerror(setupFailure)))
        }

        let result = try withExtendedLifetime(accumulator) { () throws(TransportError) in try perform(handle) }
        guard result == CURLE_OK else {
            throw Self.error(for: result, detail: String(cString: errorBuffer), accumulator: accumulator)
        }
        var status = 0
        _ = migrator_curl_getinfo_long(handle, CURLINFO_RESPONSE_CODE, &status)
        return HTTPResponse(status: status, headers: accumulator.headers, body: accumulator.body)
    }

    /// The request's headers as libcurl's list (the caller frees it).
    private static func headerList(_ headers: [HTTPHeader]) throws(TransportError) -> UnsafeMutablePointer<curl_slist>?
    {
        var headerList: UnsafeMutablePointer<curl_slist>? = nil
        for header in headers {
            // A CR or LF in a value would let it smuggle a second header; ours never contain one.
            guard !header.name.contains(where: \.isNewline), !header.value.contains(where: \.isNewline) else {
                curl_slist_free_all(headerList)
                throw TransportError(kind: .configuration, message: "header \(header.name) contains a line break")
            }
            headerList = curl_slist_append(headerList, "\(header.name): \(header.value)")
        }
        // Without this libcurl may add `Expect: 100-continue` and wait a second for an answer.
        headerList = curl_slist_append(headerList, "Expect:")

        return headerList
    }

    /// Sets every option of one transfer; returns the first code libcurl refused, if any.
    private func configure(
        _ handle: UnsafeMutableRawPointer, for request: HTTPRequest,
        headers headerList: UnsafeMutablePointer<curl_slist>?,
        errorBuffer: UnsafeMutablePointer<CChar>, context: UnsafeMutableRawPointer
    ) -> CURLcode? {
        // The first refusal, named: the libcurl found at run time may be older than the headers this
        // was built with (an option it does not know yet).
        var setupFailure: CURLcode?
        func check(_ code: CURLcode) {
            if code != CURLE_OK && setupFailure == nil { setupFailure = code }
        }
        check(migrator_curl_setopt_string(handle, CURLOPT_URL, request.url))
        check(migrator_curl_restrict_protocols(handle))
        // Signals would be the only way libcurl's resolver timeout works in a multi-threaded process,
        // and they are unsafe there; the threaded resolver honours the timeout without them.
        check(migrator_curl_setopt_long(handle, CURLOPT_NOSIGNAL, 1))
        check(
            migrator_curl_setopt_long(
                handle, CURLOPT_CONNECTTIMEOUT_MS, Int(max(1, request.timeouts.connect.milliseconds))))
        check(migrator_curl_setopt_long(handle, CURLOPT_TIMEOUT_MS, Int(max(1, request.timeouts.total.milliseconds))))
        check(migrator_curl_setopt_long(handle, CURLOPT_SSL_VERIFYPEER, 1))
        check(migrator_curl_setopt_long(handle, CURLOPT_SSL_VERIFYHOST, 2))
        check(migrator_curl_setopt_long(handle, CURLOPT_FOLLOWLOCATION, 0))
        check(migrator_curl_setopt_string(handle, CURLOPT_USERAGENT, "migrator"))
        if let caBundle {
            check(migrator_curl_setopt_string(handle, CURLOPT_CAINFO, caBundle))
        }
        if request.bypassProxy {
            check(migrator_curl_setopt_string(handle, CURLOPT_NOPROXY, "*"))
        }
        check(migrator_curl_setopt_pointer(handle, CURLOPT_ERRORBUFFER, errorBuffer))
        check(migrator_curl_setopt_slist(handle, CURLOPT_HTTPHEADER, headerList))
        check(migrator_curl_setopt_writefunction(handle, curlWriteCallback))
        check(migrator_curl_setopt_pointer(handle, CURLOPT_WRITEDATA, context))
        check(migrator_curl_setopt_headerfunction(handle, curlHeaderCallback))
        check(migrator_curl_setopt_pointer(handle, CURLOPT_HEADERDATA, context))

        switch request.method {
        case "GET":
            check(migrator_curl_setopt_long(handle, CURLOPT_HTTPGET, 1))
        default:
            // POSTFIELDS with an explicit size sends exactly these bytes (a signed body must not change)
            // and a Content-Length even when empty, which the IMDSv2 token PUT needs.
            check(migrator_curl_setopt_postfieldsize(handle, request.body.count))
            if request.body.isEmpty {
                check(migrator_curl_setopt_string(handle, CURLOPT_COPYPOSTFIELDS, ""))
            } else {
                request.body.withUnsafeBytes { buffer in
                    // COPYPOSTFIELDS copies now, so the buffer need not outlive this closure.
                    check(
                        migrator_curl_setopt_pointer(
                            handle, CURLOPT_COPYPOSTFIELDS, UnsafeMutableRawPointer(mutating: buffer.baseAddress))
                    )
                }
            }
            if request.method != "POST" {
                check(migrator_curl_setopt_string(handle, CURLOPT_CUSTOMREQUEST, request.method))
            }
        }
        return setupFailure
    }

    /// curl_easy_perform through the multi interface, so that a stop request is seen within
    /// `pollInterval` even while the server sends nothing (easy_perform would block until a timeout).
    private func perform(_ handle: UnsafeMutableRawPointer) throws(TransportError) -> CURLcode {
        guard let multi = curl_multi_init() else {
            throw TransportError(kind: .configuration, message: "libcurl could not create a multi handle")
        }
        defer { curl_multi_cleanup(multi) }
        guard curl_multi_add_handle(multi, handle) == CURLM_OK else {
            throw TransportError(kind: .configuration, message: "libcurl could not start the transfer")
        }
        defer { curl_multi_remove_handle(multi, handle) }
        var running: Int32 = 1
        while true {
            let code = curl_multi_perform(multi, &running)
            guard code == CURLM_OK else {
                throw TransportError(kind: .network, message: String(cString: curl_multi_strerror(code)))
            }
            if running == 0 { break }
            if let reason = interruption?.reason {
                throw TransportError(kind: .interrupted, message: "stopped by \(reason.signalName) during the request")
            }
            _ = curl_multi_poll(multi, nil, 0, Self.pollInterval, nil)
        }
        var remaining: Int32 = 0
        while let message = curl_multi_info_read(multi, &remaining) {
            if message.pointee.msg == CURLMSG_DONE { return message.pointee.data.result }
        }
        throw TransportError(kind: .network, message: "libcurl ended the transfer without a result")
    }

    /// libcurl initialises its TLS backend process-wide and not thread-safely: once, before any handle
    /// exists (a `static let` runs once, under a lock).
    private static let globalInit: Result<Void, TransportError> = {
        let code = migrator_curl_global_init()
        guard code == CURLE_OK else {
            return .failure(
                TransportError(
                    kind: .configuration,
                    message: "curl_global_init failed: \(String(cString: curl_easy_strerror(code)))"))
        }
        return .success(())
    }()

    private static func error(for code: CURLcode, detail: String, accumulator: ResponseAccumulator) -> TransportError {
        let text = detail.isEmpty ? String(cString: curl_easy_strerror(code)) : detail
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
